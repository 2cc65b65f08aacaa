//! What a rollout is asked to do: the model, the devices, and the safety rules. The JSON shape
//! is `POST /rollouts`' body and is kept in the graph with the rollout (`seam:spec`), so a
//! restarted service resumes a rollout under the rules it was started with.

use serde::{Deserialize, Serialize};

/// Which devices a rollout targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Selection {
    /// These devices (short names or IRIs).
    Devices(Vec<String>),
    /// The devices the first column of this SPARQL SELECT names.
    Where(String),
    /// The devices a named query (`queries/*.rq`) selects, run with these parameters.
    NamedQuery {
        /// The query's name.
        name: String,
        /// Its parameters.
        #[serde(default)]
        params: std::collections::BTreeMap<String, String>,
    },
    /// Every device the model is compatible with.
    Compatible,
}

/// How a rollout proceeds: groups, thresholds, concurrency, rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutSpec {
    /// The model's IRI (a model registered from its file).
    pub model: String,
    /// The devices.
    pub selection: Selection,
    /// The first group (the canary), as a percentage of the deliverable devices.
    #[serde(default)]
    pub canary_pct: Option<f64>,
    /// The first group as a number of devices (instead of a percentage).
    #[serde(default)]
    pub canary_size: Option<usize>,
    /// Devices per group after the canary (`None`: the rest in one group).
    #[serde(default)]
    pub wave_size: Option<usize>,
    /// A group's share of installs (percent of its devices) that starts the next group.
    #[serde(default = "default_success_threshold")]
    pub success_threshold_pct: f64,
    /// A group's share of failures (percent of its devices) above which the rollout halts.
    #[serde(default = "default_error_threshold")]
    pub error_threshold_pct: f64,
    /// Deliveries in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// On a halt, return every device this rollout installed to the artifact it ran before.
    #[serde(default = "yes")]
    pub rollback: bool,
    /// How long a device that is offline at its turn is waited for, seconds.
    #[serde(default = "default_offline_deadline")]
    pub offline_deadline_s: u64,
    /// `pull` (the device downloads the package) or `push` (the server writes it).
    #[serde(default = "default_method")]
    pub method: String,
    /// RAM headroom matching keeps free on each device, percent.
    #[serde(default = "default_headroom")]
    pub headroom_pct: u64,
}

fn default_success_threshold() -> f64 {
    100.0
}
fn default_error_threshold() -> f64 {
    20.0
}
fn default_concurrency() -> usize {
    16
}
fn yes() -> bool {
    true
}
fn default_offline_deadline() -> u64 {
    600
}
fn default_method() -> String {
    "pull".to_owned()
}
fn default_headroom() -> u64 {
    10
}

/// Largest concurrency a rollout may ask for: each delivery holds a CoAP exchange and a task.
pub const MAX_CONCURRENCY: usize = 1024;
/// Longest a device may be waited for: a week.
pub const MAX_OFFLINE_DEADLINE_S: u64 = 7 * 24 * 3600;

impl RolloutSpec {
    /// A spec with the defaults for `model` and `selection`.
    pub fn new(model: &str, selection: Selection) -> Self {
        Self {
            model: model.to_owned(),
            selection,
            canary_pct: None,
            canary_size: None,
            wave_size: None,
            success_threshold_pct: default_success_threshold(),
            error_threshold_pct: default_error_threshold(),
            concurrency: default_concurrency(),
            rollback: true,
            offline_deadline_s: default_offline_deadline(),
            method: default_method(),
            headroom_pct: default_headroom(),
        }
    }

    /// Checks every rule's range; the message names the field and its bounds.
    pub fn check(&self) -> Result<(), String> {
        let pct = |name: &str, v: f64, low_open: bool| {
            let ok = v.is_finite() && v <= 100.0 && if low_open { v > 0.0 } else { v >= 0.0 };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be a percentage {} 0 and 100, not {v}",
                    if low_open { "above" } else { "from" }
                ))
            }
        };
        if let Some(c) = self.canary_pct {
            if !(c.is_finite() && c > 0.0 && c < 100.0) {
                return Err(format!("canaryPct must be a percentage between 0 and 100, not {c}"));
            }
        }
        if self.canary_pct.is_some() && self.canary_size.is_some() {
            return Err("give canaryPct or canarySize, not both".into());
        }
        if self.canary_size == Some(0) {
            return Err("canarySize must be at least 1".into());
        }
        if self.wave_size == Some(0) {
            return Err("waveSize must be at least 1".into());
        }
        pct("successThresholdPct", self.success_threshold_pct, true)?;
        pct("errorThresholdPct", self.error_threshold_pct, false)?;
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(format!(
                "concurrency must be from 1 to {MAX_CONCURRENCY}, not {}",
                self.concurrency
            ));
        }
        if self.offline_deadline_s > MAX_OFFLINE_DEADLINE_S {
            return Err(format!(
                "offlineDeadlineS must be at most {MAX_OFFLINE_DEADLINE_S} (a week), not {}",
                self.offline_deadline_s
            ));
        }
        if !matches!(self.method.as_str(), "pull" | "push") {
            return Err(format!("method {:?} is neither \"pull\" nor \"push\"", self.method));
        }
        crate::matching::MatchOptions::checked(self.headroom_pct, None)?;
        if let Selection::Devices(d) = &self.selection {
            if d.is_empty() {
                return Err("the device list is empty".into());
            }
        }
        Ok(())
    }

    /// The groups' sizes for `n` deliverable devices: the canary (at least one, never all when
    /// there are two or more), then waves of `wave_size` (or the rest at once).
    pub fn group_sizes(&self, n: usize) -> Vec<usize> {
        if n == 0 {
            return Vec::new();
        }
        let canary = match (self.canary_size, self.canary_pct) {
            (Some(size), _) => Some(size.min(n)),
            (None, Some(pct)) if n > 1 => Some(((n as f64 * pct / 100.0).ceil() as usize).clamp(1, n - 1)),
            _ => None,
        };
        let mut sizes = Vec::new();
        let mut left = n;
        if let Some(c) = canary {
            sizes.push(c);
            left -= c;
        }
        while left > 0 {
            let take = self.wave_size.map_or(left, |w| w.min(left));
            sizes.push(take);
            left -= take;
        }
        sizes
    }
}

/// A rollout as a client asks for it: the model, exactly one way of selecting devices, and the
/// rules it changes from their defaults. It is `POST /rollouts`' JSON body, and GraphQL's
/// `startRollout` input is read into it, so both surfaces accept and refuse the same things.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutRequest {
    /// The model's IRI (or a name only one model has).
    pub model: String,
    /// These devices.
    #[serde(default)]
    pub devices: Option<Vec<String>>,
    /// The devices the first column of this SELECT names.
    #[serde(default, rename = "where")]
    pub select: Option<String>,
    /// The devices a named query selects.
    #[serde(default)]
    pub named_query: Option<NamedQueryRequest>,
    /// Every device the model is compatible with.
    #[serde(default)]
    pub compatible: bool,
    /// See [`RolloutSpec::canary_pct`].
    #[serde(default)]
    pub canary_pct: Option<f64>,
    /// See [`RolloutSpec::canary_size`].
    #[serde(default)]
    pub canary_size: Option<usize>,
    /// See [`RolloutSpec::wave_size`].
    #[serde(default)]
    pub wave_size: Option<usize>,
    /// See [`RolloutSpec::success_threshold_pct`].
    #[serde(default)]
    pub success_threshold_pct: Option<f64>,
    /// See [`RolloutSpec::error_threshold_pct`].
    #[serde(default)]
    pub error_threshold_pct: Option<f64>,
    /// See [`RolloutSpec::concurrency`].
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// See [`RolloutSpec::rollback`].
    #[serde(default)]
    pub rollback: Option<bool>,
    /// See [`RolloutSpec::offline_deadline_s`].
    #[serde(default)]
    pub offline_deadline_s: Option<u64>,
    /// See [`RolloutSpec::method`].
    #[serde(default)]
    pub method: Option<String>,
    /// See [`RolloutSpec::headroom_pct`].
    #[serde(default)]
    pub headroom_pct: Option<u64>,
}

/// A named query and its parameters, as a request names them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedQueryRequest {
    /// The query's name.
    pub name: String,
    /// Its parameters.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

impl RolloutRequest {
    /// The spec asked for: the one selection, and the defaults with the rules given replaced.
    /// The rules' ranges are checked when the rollout begins ([`RolloutSpec::check`]).
    pub fn into_spec(self) -> Result<RolloutSpec, String> {
        let mut ways = Vec::new();
        if let Some(d) = self.devices {
            ways.push(Selection::Devices(d));
        }
        if let Some(q) = self.select {
            ways.push(Selection::Where(q));
        }
        if let Some(n) = self.named_query {
            ways.push(Selection::NamedQuery {
                name: n.name,
                params: n.params,
            });
        }
        if self.compatible {
            ways.push(Selection::Compatible);
        }
        if ways.len() != 1 {
            return Err(format!(
                "select the devices one way: `devices`, `where`, `namedQuery` or `compatible: true` ({} given)",
                ways.len()
            ));
        }
        let mut spec = RolloutSpec::new(&self.model, ways.remove(0));
        spec.canary_pct = self.canary_pct;
        spec.canary_size = self.canary_size;
        spec.wave_size = self.wave_size;
        let defaults = spec.clone();
        spec.success_threshold_pct = self.success_threshold_pct.unwrap_or(defaults.success_threshold_pct);
        spec.error_threshold_pct = self.error_threshold_pct.unwrap_or(defaults.error_threshold_pct);
        spec.concurrency = self.concurrency.unwrap_or(defaults.concurrency);
        spec.rollback = self.rollback.unwrap_or(defaults.rollback);
        spec.offline_deadline_s = self.offline_deadline_s.unwrap_or(defaults.offline_deadline_s);
        spec.method = self.method.unwrap_or(defaults.method);
        spec.headroom_pct = self.headroom_pct.unwrap_or(defaults.headroom_pct);
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_a_canary_then_waves() {
        let mut spec = RolloutSpec::new("m", Selection::Compatible);
        assert_eq!(spec.group_sizes(10), [10]);
        spec.canary_pct = Some(10.0);
        assert_eq!(spec.group_sizes(10), [1, 9]);
        assert_eq!(spec.group_sizes(1), [1]);
        spec.wave_size = Some(4);
        assert_eq!(spec.group_sizes(10), [1, 4, 4, 1]);
        spec.canary_pct = None;
        spec.canary_size = Some(3);
        assert_eq!(spec.group_sizes(2), [2]);
        assert_eq!(spec.group_sizes(0), Vec::<usize>::new());
    }

    #[test]
    fn every_rule_is_range_checked() {
        let ok = RolloutSpec::new("m", Selection::Compatible);
        assert!(ok.check().is_ok());
        for (spec, needle) in [
            (
                RolloutSpec {
                    canary_pct: Some(100.0),
                    ..ok.clone()
                },
                "canaryPct",
            ),
            (
                RolloutSpec {
                    error_threshold_pct: f64::NAN,
                    ..ok.clone()
                },
                "errorThresholdPct",
            ),
            (
                RolloutSpec {
                    success_threshold_pct: 0.0,
                    ..ok.clone()
                },
                "successThresholdPct",
            ),
            (
                RolloutSpec {
                    concurrency: 0,
                    ..ok.clone()
                },
                "concurrency",
            ),
            (
                RolloutSpec {
                    concurrency: usize::MAX,
                    ..ok.clone()
                },
                "concurrency",
            ),
            (
                RolloutSpec {
                    offline_deadline_s: u64::MAX,
                    ..ok.clone()
                },
                "offlineDeadlineS",
            ),
            (
                RolloutSpec {
                    method: "ftp".into(),
                    ..ok.clone()
                },
                "method",
            ),
            (
                RolloutSpec {
                    selection: Selection::Devices(vec![]),
                    ..ok.clone()
                },
                "empty",
            ),
        ] {
            let e = spec.check().unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
