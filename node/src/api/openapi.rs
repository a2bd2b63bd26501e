//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API (`node/openapi.json`, written
//! by hand). `node/tests/openapi.rs` checks it against the router: every route and method the
//! router serves is in it, and it names nothing the router does not serve.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::ApiState;

/// The document, as checked in.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// The document's route.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/openapi.json", get(document))
}

async fn document() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        assert!(doc["paths"]["/v1/kv/{key}"]["put"].is_object());
    }
}
