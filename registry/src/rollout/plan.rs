//! Planning a rollout: everything that can refuse it is decided here, before anything starts.
//! The model and its file, the devices selected, each device's verdict and runtime, what each
//! ran before, and the groups.

use std::collections::BTreeMap;
use std::path::PathBuf;

use oxigraph::model::{NamedNode, NamedOrBlankNode, Term};

use super::record::{now, rollout_iri};
use super::{Rollout, RolloutError, RolloutSpec, RolloutState, Selection, Target, TargetState};
use seam_compiler_bridge::analysis::Analysis;

use crate::data_dir::DataDir;
use crate::graph::{QueryLimits, Registry};
use crate::matching::evaluate::{MatchOptions, Via};
use crate::matching::facts::{Fleet, ModelFacts};
use crate::matching::FleetIndex;
use crate::packaging::{self, PlanError};
use crate::store::QuadPattern;
use crate::vocab::SEAM;

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

/// Numbers rollouts within the process, after the time: two started in one millisecond differ.
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn new_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("r{millis:x}{n:02x}")
}

fn via_name(via: Via) -> &'static str {
    match via {
        Via::AsIs => "as-is",
        Via::Int8 => "int8",
    }
}

/// The first literal of `subject`'s `predicate`.
fn literal(registry: &Registry, subject: &NamedNode, predicate: &NamedNode) -> Result<Option<String>, RolloutError> {
    let s = NamedOrBlankNode::from(subject.clone());
    let quads = registry
        .quads_for_pattern(QuadPattern {
            subject: Some(&s),
            predicate: Some(predicate),
            ..QuadPattern::default()
        })
        .map_err(|e| RolloutError::Graph(e.to_string()))?;
    Ok(quads.into_iter().find_map(|q| match q.object {
        Term::Literal(l) => Some(l.value().to_owned()),
        _ => None,
    }))
}

/// The model's file in the data folder, from its `seam:sha256`.
pub(crate) fn model_file(registry: &Registry, data: &DataDir, model: &str) -> Result<PathBuf, RolloutError> {
    let node = NamedNode::new(model).map_err(|_| RolloutError::UnknownModel(model.to_owned()))?;
    let sha = literal(registry, &node, &seam("sha256"))?.ok_or_else(|| RolloutError::NoModelFile(model.to_owned()))?;
    ["onnx", "tflite"]
        .iter()
        .map(|ext| data.models().join(format!("{sha}.{ext}")))
        .find(|p| p.is_file())
        .ok_or_else(|| RolloutError::NoModelFile(model.to_owned()))
}

/// The model file's bytes and its measurement as the bridge builds it: an ONNX model with its
/// batch normalisations folded (no MCU runtime has a BatchNormalization kernel, and every
/// backend receives the folded graph), a TFLite model as it is.
pub(crate) fn measure(path: &std::path::Path) -> Result<(Vec<u8>, Analysis), String> {
    use seam_compiler_bridge::analysis::analyze_bytes;
    use seam_compiler_bridge::compile::folded;

    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the model file {}: {e}", path.display()))?;
    let measured = analyze_bytes(&bytes, None).map_err(|e| e.to_string())?;
    let analysis = if measured.format == "tflite" {
        measured
    } else {
        analyze_bytes(&folded(&bytes).map_err(|e| e.to_string())?, None).map_err(|e| e.to_string())?
    };
    Ok((bytes, analysis))
}

/// The model as matching must judge it for a rollout: what the graph says of its task, sensors
/// and accuracy, and what the build will have (operators, memory, MACs, data type) from the
/// measurement of the folded file.
pub(crate) fn as_built(graph: &ModelFacts, analysis: &Analysis) -> ModelFacts {
    let built = packaging::model_facts(analysis, &graph.iri, &graph.name);
    ModelFacts {
        dtype: built.dtype,
        macs: built.macs,
        peak_activation_bytes: built.peak_activation_bytes,
        weight_bytes: built.weight_bytes,
        operators: built.operators,
        ..graph.clone()
    }
}

/// The SHA-256 of the artifact the device runs now (`seam:runs`), if any.
fn running_artifact(registry: &Registry, device: &str) -> Result<Option<String>, RolloutError> {
    let Ok(node) = NamedNode::new(device) else {
        return Ok(None);
    };
    let s = NamedOrBlankNode::from(node);
    let runs = seam("runs");
    let quads = registry
        .quads_for_pattern(QuadPattern {
            subject: Some(&s),
            predicate: Some(&runs),
            ..QuadPattern::default()
        })
        .map_err(|e| RolloutError::Graph(e.to_string()))?;
    for q in quads {
        if let Term::NamedNode(artifact) = q.object {
            if let Some(sha) = literal(registry, &artifact, &seam("sha256"))? {
                return Ok(Some(sha));
            }
        }
    }
    Ok(None)
}

/// The model a spec names: by IRI, or by a name only one model has.
fn find_model<'a>(fleet: &'a Fleet, key: &str) -> Result<&'a ModelFacts, RolloutError> {
    if let Some(m) = fleet.models.get(key) {
        return Ok(m);
    }
    let mut named = fleet.models.values().filter(|m| m.name == key);
    match (named.next(), named.next()) {
        (Some(m), None) => Ok(m),
        (Some(_), Some(_)) => Err(RolloutError::Invalid(format!(
            "several models are named {key:?}; name one by its IRI"
        ))),
        _ => Err(RolloutError::UnknownModel(key.to_owned())),
    }
}

/// The devices a selection names (short names, sorted); `None` for "every compatible device".
fn selected(registry: &Registry, selection: &Selection) -> Result<Option<Vec<String>>, RolloutError> {
    let limits = QueryLimits::default();
    Ok(match selection {
        Selection::Compatible => None,
        Selection::Devices(list) => Some(list.clone()),
        Selection::Where(select) => Some(crate::selection::devices_where(registry, select, &limits)?),
        Selection::NamedQuery { name, params } => {
            let all = crate::named::all().map_err(|e| RolloutError::Graph(e.to_string()))?;
            let query = all.into_iter().find(|q| &q.name == name).ok_or_else(|| {
                RolloutError::NamedQuery(format!("no named query {name:?} (GET /queries lists them)"))
            })?;
            let given: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let resolve = |short: &str| registry.device_by_short_name(short).ok().flatten();
            let bindings = query
                .bind(&given, &resolve)
                .map_err(|e| RolloutError::NamedQuery(format!("{name}: {e}")))?;
            let answer = registry
                .query_named(&query, bindings, &limits)
                .map_err(|e| RolloutError::NamedQuery(format!("{name}: {e}")))?;
            Some(crate::selection::devices_answered(registry, answer, &limits)?)
        }
    })
}

/// The fleet as a rollout sees it: only the runtimes SEAM can build for (those that declare a
/// `seam:compilerBackend`). A rollout delivers what it compiled, so a runtime without a backend
/// (a vendor toolchain not declared in compilers.toml) is no way to run the model: the device
/// gets the best runtime that can be built for, or none.
pub(crate) fn buildable(fleet: &Fleet) -> std::borrow::Cow<'_, Fleet> {
    if fleet.runtimes.values().all(|r| r.compiler_backend.is_some()) {
        return std::borrow::Cow::Borrowed(fleet);
    }
    let mut owned = fleet.clone();
    owned.runtimes.retain(|_, r| r.compiler_backend.is_some());
    std::borrow::Cow::Owned(owned)
}

/// The devices (short names) `model` can be rolled out to, each with how it runs there (`as-is`
/// or `int8`): the verdict a rollout would reach, on the model as it is built.
pub fn compatible_devices(
    registry: &Registry,
    index: &FleetIndex,
    data: &DataDir,
    model: &str,
    headroom_pct: u64,
) -> Result<BTreeMap<String, &'static str>, RolloutError> {
    let indexed = index.fleet().map_err(|e| RolloutError::Graph(e.to_string()))?;
    let fleet = buildable(&indexed);
    let declared = find_model(&fleet, model)?;
    let path = model_file(registry, data, &declared.iri)?;
    let (_, analysis) = measure(&path).map_err(RolloutError::Invalid)?;
    let built = as_built(declared, &analysis);
    let opts = MatchOptions {
        headroom_pct,
        ..MatchOptions::default()
    };
    let mut out = BTreeMap::new();
    for device in fleet.devices.values() {
        let Some(name) = &device.short_name else { continue };
        if let Ok(p) = packaging::plan(&fleet, &built, &device.iri, &opts) {
            out.insert(name.clone(), via_name(p.via));
        }
    }
    Ok(out)
}

/// Plans `spec`: every target with its verdict, runtime, previous artifact and group. Devices
/// in `busy` (device → rollout) make an explicit selection fail and are left out of a
/// "compatible" one. An error starts nothing.
pub(crate) fn plan(
    registry: &Registry,
    index: &FleetIndex,
    data: &DataDir,
    mut spec: RolloutSpec,
    busy: &BTreeMap<String, String>,
) -> Result<Rollout, RolloutError> {
    let indexed = index.fleet().map_err(|e| RolloutError::Graph(e.to_string()))?;
    let fleet = buildable(&indexed);
    let declared = find_model(&fleet, &spec.model)?;
    spec.model = declared.iri.clone();
    let path = model_file(registry, data, &declared.iri)?;
    let (_, analysis) = measure(&path).map_err(RolloutError::Invalid)?;
    let built = as_built(declared, &analysis);
    let model = &built;
    let opts = MatchOptions {
        headroom_pct: spec.headroom_pct,
        ..MatchOptions::default()
    };

    // Devices by IRI and by short name: a selection of many names is looked up, never scanned.
    let by_name: std::collections::HashMap<&str, &crate::matching::facts::DeviceFacts> = fleet
        .devices
        .values()
        .filter_map(|d| d.short_name.as_deref().map(|n| (n, d)))
        .collect();
    let lookup = |key: &str| fleet.devices.get(key).or_else(|| by_name.get(key).copied());
    let explicit = selected(registry, &spec.selection)?.map(|mut names| {
        names.sort();
        names.dedup();
        names
    });
    let candidates: Vec<String> = match &explicit {
        Some(names) => {
            let unknown: Vec<String> = names.iter().filter(|n| lookup(n).is_none()).cloned().collect();
            if !unknown.is_empty() {
                return Err(RolloutError::UnknownDevices(unknown));
            }
            let taken: Vec<(String, String)> = names
                .iter()
                .filter_map(|n| {
                    let d = lookup(n)?;
                    let name = d.short_name.clone()?;
                    busy.get(&name).map(|r| (name, r.clone()))
                })
                .collect();
            if !taken.is_empty() {
                return Err(RolloutError::Busy(taken));
            }
            names.clone()
        }
        None => fleet
            .devices
            .values()
            .filter_map(|d| d.short_name.clone())
            .filter(|n| !busy.contains_key(n))
            .collect(),
    };
    if candidates.is_empty() {
        return Err(RolloutError::NoDevices);
    }

    let mut deliverable = Vec::new();
    let mut skipped = Vec::new();
    for key in &candidates {
        let Some(device) = lookup(key) else { continue };
        let name = device.short_name.clone().unwrap_or_else(|| key.clone());
        let mut target = Target {
            device: name.clone(),
            device_iri: device.iri.clone(),
            board: device.board.clone(),
            group: None,
            state: TargetState::Skipped,
            reason: String::new(),
            runtime: None,
            backend: None,
            via: None,
            artifact: None,
            previous_artifact: None,
        };
        if device.short_name.is_none() {
            target.reason = "the device has no seam:shortName (its LwM2M endpoint name): it cannot be reached".into();
            skipped.push(target);
            continue;
        }
        match packaging::plan(&fleet, model, &device.iri, &opts) {
            Ok(p) => {
                target.state = TargetState::Pending;
                target.runtime = Some(p.runtime.clone());
                target.backend = p.backend.clone();
                target.via = Some(via_name(p.via).to_owned());
                target.previous_artifact = running_artifact(registry, &device.iri)?;
                deliverable.push(target);
            }
            Err(PlanError::DoesNotRun { reasons, .. }) => {
                if explicit.is_none() {
                    continue; // "Every compatible device" lists only those.
                }
                target.reason = reasons.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join(" ");
                skipped.push(target);
            }
            Err(e @ PlanError::UnknownDevice(_)) => return Err(RolloutError::Invalid(e.to_string())),
        }
    }
    if deliverable.is_empty() {
        return Err(RolloutError::RunsNowhere(
            skipped.into_iter().map(|t| (t.device, t.reason)).collect(),
        ));
    }
    deliverable.sort_by(|a, b| a.device.cmp(&b.device));
    deliverable.dedup_by(|a, b| a.device == b.device);
    let mut at = 0;
    for (g, size) in spec.group_sizes(deliverable.len()).into_iter().enumerate() {
        for t in &mut deliverable[at..at + size] {
            t.group = Some(g as u32);
        }
        at += size;
    }
    skipped.sort_by(|a, b| a.device.cmp(&b.device));
    deliverable.extend(skipped);
    let id = new_id();
    Ok(Rollout {
        iri: rollout_iri(&id).into_string(),
        id,
        model_name: model.name.clone(),
        spec,
        state: RolloutState::Building,
        reason: String::new(),
        started: now(),
        ended: None,
        builds: Vec::new(),
        targets: deliverable,
        timings: super::Timings::default(),
    })
}
