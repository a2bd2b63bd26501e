//! Service registry and routing: register, deregister, heartbeat, list, discover, route.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::{Command, Page, RouteDecision, ServiceInstance};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::page::{put_more, PageQuery};
use super::reply::{at_index, written};
use super::ApiState;
use crate::auth::{self, Caller};

/// The body of `PUT /v1/services/{service}/instances/{instance}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    /// Host name or IP address.
    pub(super) address: String,
    /// Port.
    pub(super) port: u16,
    /// Version (default `"v1"`).
    #[serde(default = "default_version")]
    pub(super) version: String,
    /// Routing weight (default 100).
    #[serde(default = "default_weight")]
    pub(super) weight: u16,
    /// Tags.
    #[serde(default)]
    pub(super) tags: Vec<String>,
    /// Metadata.
    #[serde(default)]
    pub(super) metadata: BTreeMap<String, String>,
    /// Heartbeat TTL; without it the instance is always healthy.
    #[serde(default)]
    pub(super) ttl_ms: Option<u64>,
}

fn default_version() -> String {
    "v1".into()
}

fn default_weight() -> u16 {
    100
}

/// An instance's JSON: `{"id", "address", "port", "version", "weight", "tags", "metadata",
/// "healthy"}`, plus what else the registry keeps (`service`, `ttl_ms`,
/// `heartbeat_deadline_ms`, `registered_index`, `updated_index`).
fn render(instance: &ServiceInstance) -> Value {
    // Destructured in full, so a field added to `ServiceInstance` must be placed here.
    let ServiceInstance {
        service,
        instance_id,
        address,
        port,
        version,
        weight,
        tags,
        metadata,
        ttl_ms,
        healthy,
        heartbeat_deadline_ms,
        registered_index,
        updated_index,
    } = instance;
    json!({
        "id": instance_id,
        "service": service,
        "address": address,
        "port": port,
        "version": version,
        "weight": weight,
        "tags": tags,
        "metadata": metadata,
        "healthy": healthy,
        "ttl_ms": ttl_ms,
        "heartbeat_deadline_ms": heartbeat_deadline_ms,
        "registered_index": registered_index,
        "updated_index": updated_index,
    })
}

fn names(service: &str, instance: &str) -> Result<(), ApiError> {
    validate::name(Field::Service, service)?;
    validate::name(Field::InstanceId, instance)?;
    Ok(())
}

/// `PUT /v1/services/{service}/instances/{instance}`.
pub(super) async fn register(
    State(state): State<ApiState>,
    Path((service, instance_id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    names(&service, &instance_id)?;
    let b: RegisterBody = json(&body)?;
    validate::address(&b.address)?;
    validate::port(b.port)?;
    validate::version(&b.version)?;
    validate::weight(b.weight)?;
    validate::tags(&b.tags)?;
    validate::metadata(&b.metadata)?;
    b.ttl_ms.map_or(Ok(()), validate::ttl_ms)?;
    let command = Command::Register {
        service,
        instance_id,
        address: b.address,
        port: b.port,
        version: b.version,
        weight: b.weight,
        tags: b.tags,
        metadata: b.metadata,
        ttl_ms: b.ttl_ms,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

/// `DELETE /v1/services/{service}/instances/{instance}`.
pub(super) async fn deregister(
    State(state): State<ApiState>,
    Path((service, instance_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    names(&service, &instance_id)?;
    let command = Command::Deregister {
        service,
        instance_id,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

/// `POST /v1/services/{service}/instances/{instance}/heartbeat`.
pub(super) async fn heartbeat(
    State(state): State<ApiState>,
    Path((service, instance_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    names(&service, &instance_id)?;
    let command = Command::Heartbeat {
        service,
        instance_id,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

/// `GET /v1/services?limit=N&start_after=S`: a page of the names of services with instances
/// (those the caller's token may name, when it is scoped), with `more` and `next`.
pub(super) async fn list_services(
    State(state): State<ApiState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "limit", "start_after"])?;
    let page = PageQuery::parse(&params)?;
    let caller = caller.map(|Extension(c)| c);
    let (page, index) = state
        .read(params.consistency()?, move |sm| {
            let visible = sm
                .services_from(page.start_after.as_deref())
                .filter(|s| auth::visible(caller.as_ref(), s));
            Page::take(visible, page.limit).map(str::to_owned)
        })
        .await?;
    let mut body = Map::new();
    put_more(&mut body, &page, |s| s);
    body.insert("services".into(), json!(page.items));
    body.insert("index".into(), Value::from(index));
    Ok(at_index(StatusCode::OK, &Value::Object(body), index))
}

/// `GET /v1/services/{service}?healthy=true&limit=N&start_after=I`: `{"service", "instances":
/// [..], "more", "next", "index"}`, a page of instances in id order.
pub(super) async fn get_service(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "healthy", "limit", "start_after"])?;
    validate::name(Field::Service, &service)?;
    let healthy = params.bool("healthy")?;
    let page = PageQuery::parse(&params)?;
    let name = service.clone();
    let (page, index) = state
        .read(params.consistency()?, move |sm| {
            sm.instances_from(&name, page.start_after.as_deref())
                .map(|all| {
                    let shown = all.filter(|i| i.healthy || !healthy);
                    Page::take(shown, page.limit).map(Clone::clone)
                })
        })
        .await?;
    let Some(page) = page else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "service_not_found",
            format!("service {service:?} has no instances"),
        ));
    };
    let mut body = Map::new();
    put_more(&mut body, &page, |i| &i.instance_id);
    body.insert("service".into(), Value::from(service));
    let instances: Vec<Value> = page.items.iter().map(render).collect();
    body.insert("instances".into(), Value::Array(instances));
    body.insert("index".into(), Value::from(index));
    Ok(at_index(StatusCode::OK, &Value::Object(body), index))
}

/// `GET /v1/route/{service}?key=K`: where a request with key `K` goes: `{"instance": {..},
/// "version", "canary", "bucket", "index"}`.
pub(super) async fn route(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "key"])?;
    validate::name(Field::Service, &service)?;
    let key = params.get("key").unwrap_or_default().as_bytes().to_vec();
    let (decision, index) = state
        .read(params.consistency()?, move |sm| sm.route(&service, &key))
        .await?;
    let RouteDecision {
        instance,
        version,
        canary,
        bucket,
        index: decided_at,
    } = decision?;
    let body = json!({
        "instance": render(&instance),
        "version": version,
        "canary": canary,
        "bucket": bucket,
        "index": decided_at,
    });
    Ok(at_index(StatusCode::OK, &body, index))
}
