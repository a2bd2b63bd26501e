//! The page's URL query: `?seed=7&nodes=5&speed=0.1&scenario=leader-crash` reproduces a run.

/// Settings read from the URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The simulation seed.
    pub seed: Option<u64>,
    /// Cluster size, 3 to 7.
    pub nodes: Option<u64>,
    /// Simulated time per real time.
    pub speed: Option<f64>,
    /// A scenario id (see [`super::scenario::SCENARIOS`]).
    pub scenario: Option<String>,
}

/// Smallest and largest cluster shown.
pub const NODES: (u64, u64) = (3, 7);
/// Slowest and fastest speed.
pub const SPEED: (f64, f64) = (0.02, 10.0);

impl Params {
    /// Parses a query string (with or without the leading `?`); unknown keys and bad values are
    /// ignored, numbers are clamped to what the page supports.
    pub fn parse(query: &str) -> Params {
        let mut params = Params {
            seed: None,
            nodes: None,
            speed: None,
            scenario: None,
        };
        for pair in query.trim_start_matches('?').split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "seed" => params.seed = value.parse().ok(),
                "nodes" => {
                    params.nodes = value.parse::<u64>().ok().map(|n| n.clamp(NODES.0, NODES.1))
                }
                "speed" => {
                    params.speed = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite())
                        .map(|s| s.clamp(SPEED.0, SPEED.1))
                }
                "scenario" if !value.is_empty() => params.scenario = Some(value.to_string()),
                _ => {}
            }
        }
        params
    }

    /// The query string that reproduces a run.
    pub fn to_query(seed: u64, nodes: u64, speed: f64, scenario: Option<&str>) -> String {
        let mut q = format!("?seed={seed}&nodes={nodes}&speed={speed}");
        if let Some(s) = scenario {
            q.push_str("&scenario=");
            q.push_str(s);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_clamps() {
        let p = Params::parse("?seed=42&nodes=12&speed=0.5&scenario=split-vote&x=1");
        assert_eq!(p.seed, Some(42));
        assert_eq!(p.nodes, Some(7));
        assert_eq!(p.speed, Some(0.5));
        assert_eq!(p.scenario.as_deref(), Some("split-vote"));
        let p = Params::parse("nodes=1&speed=abc");
        assert_eq!((p.nodes, p.speed, p.seed), (Some(3), None, None));
    }

    #[test]
    fn round_trips() {
        let q = Params::to_query(7, 5, 0.25, Some("leader-crash"));
        let p = Params::parse(&q);
        assert_eq!((p.seed, p.nodes, p.speed), (Some(7), Some(5), Some(0.25)));
        assert_eq!(p.scenario.as_deref(), Some("leader-crash"));
    }
}
