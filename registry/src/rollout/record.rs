//! A rollout in the graph, written as it changes and read back after a restart.
//!
//! ```text
//! <rollout/ID> a seam:Rollout, prov:Activity ; prov:used <model> ; seam:modelName "…" ;
//!     seam:state "running" ; seam:reason "…" ; seam:spec "{json}" ;
//!     prov:startedAtTime … ; prov:endedAtTime … ; seam:built <artifact/SHA> ;
//!     seam:hasTarget <rollout/ID/target/DEVICE> .
//! <rollout/ID/target/DEVICE> a seam:RolloutTarget ; seam:device <device> ;
//!     seam:deviceName "…" ; seam:group 0 ; seam:state "installed" ; seam:reason "…" ;
//!     seam:onBoard <board> ; seam:runtime <runtime> ; seam:backend "…" ; seam:via "int8" ;
//!     seam:artifact <artifact/SHA> ; seam:previousArtifact <artifact/SHA> ; seam:updatedAt … .
//! ```

use oxigraph::model::vocab::rdf;
use oxigraph::model::{Literal, NamedNode, NamedOrBlankNode, Term};
use oxsdatatypes::DateTime;

use super::{Build, Rollout, RolloutSpec, RolloutState, Target, TargetState};
use crate::error::StoreError;
use crate::graph::Registry;
use crate::store::{Draft, QuadPattern};
use crate::vocab::{PROV, SEAM};

fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

fn prov(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{PROV}{local}"))
}

fn text(value: &str) -> Literal {
    Literal::new_simple_literal(value)
}

/// The IRI of the rollout `id`.
pub(crate) fn rollout_iri(id: &str) -> NamedNode {
    NamedNode::new_unchecked(format!(
        "https://w3id.org/seam/rollout/{}",
        crate::iri::encode_segment(id)
    ))
}

fn target_iri(rollout: &str, device: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{rollout}/target/{}", crate::iri::encode_segment(device)))
}

/// Now, as an xsd:dateTime's lexical form.
pub(crate) fn now() -> String {
    DateTime::now().to_string()
}

fn date_time(value: &str) -> Term {
    match value.parse::<DateTime>() {
        Ok(t) => Literal::from(t).into(),
        Err(_) => text(value).into(),
    }
}

fn iri(value: &str) -> Option<NamedNode> {
    NamedNode::new(value).ok()
}

/// Writes a rollout just planned: the activity, its spec, and every target.
pub(crate) fn write_new(t: &mut Draft<'_>, rollout: &Rollout, instance: Option<&NamedNode>) {
    let r = rollout_iri(&rollout.id);
    t.add(&r, &rdf::TYPE.into_owned(), seam("Rollout"));
    if let Some(me) = instance {
        t.set(&r, &seam("drivenBy"), me.clone());
    }
    t.add(&r, &rdf::TYPE.into_owned(), prov("Activity"));
    if let Some(model) = iri(&rollout.spec.model) {
        t.add(&r, &prov("used"), model);
    }
    t.set(&r, &seam("modelName"), text(&rollout.model_name));
    t.set(
        &r,
        &seam("spec"),
        text(&serde_json::to_string(&rollout.spec).unwrap_or_default()),
    );
    t.set(&r, &prov("startedAtTime"), date_time(&rollout.started));
    write_state(t, rollout);
    for target in &rollout.targets {
        write_target(t, r.as_str(), target);
    }
}

/// Writes the rollout's state, reason and end.
pub(crate) fn write_state(t: &mut Draft<'_>, rollout: &Rollout) {
    let r = rollout_iri(&rollout.id);
    t.set(&r, &seam("state"), text(rollout.state.as_str()));
    t.set(&r, &seam("reason"), text(&rollout.reason));
    match &rollout.ended {
        Some(ended) => t.set(&r, &prov("endedAtTime"), date_time(ended)),
        None => t.remove_all(&r, &prov("endedAtTime")),
    }
}

/// Records a package the rollout built.
pub(crate) fn write_build(t: &mut Draft<'_>, rollout: &Rollout, build: &Build) {
    if let Some(sha) = &build.artifact {
        t.add(&rollout_iri(&rollout.id), &seam("built"), crate::iri::artifact(sha));
    }
}

/// Writes one target as it now stands.
pub(crate) fn write_target(t: &mut Draft<'_>, rollout: &str, target: &Target) {
    let node = target_iri(rollout, &target.device);
    let r = NamedNode::new_unchecked(rollout);
    t.add(&r, &seam("hasTarget"), node.clone());
    t.add(&node, &rdf::TYPE.into_owned(), seam("RolloutTarget"));
    if let Some(device) = iri(&target.device_iri) {
        t.set(&node, &seam("device"), device);
    }
    t.set(&node, &seam("deviceName"), text(&target.device));
    t.set(&node, &seam("state"), text(target.state.as_str()));
    t.set(&node, &seam("reason"), text(&target.reason));
    t.set(&node, &seam("updatedAt"), Literal::from(DateTime::now()));
    match target.group {
        Some(g) => t.set(&node, &seam("group"), Literal::from(i64::from(g))),
        None => t.remove_all(&node, &seam("group")),
    }
    let optional_iri = |t: &mut Draft<'_>, p: &str, v: Option<NamedNode>| match v {
        Some(v) => t.set(&node, &seam(p), v),
        None => t.remove_all(&node, &seam(p)),
    };
    optional_iri(t, "onBoard", target.board.as_deref().and_then(iri));
    optional_iri(t, "runtime", target.runtime.as_deref().and_then(iri));
    optional_iri(t, "artifact", target.artifact.as_deref().map(crate::iri::artifact));
    optional_iri(
        t,
        "previousArtifact",
        target.previous_artifact.as_deref().map(crate::iri::artifact),
    );
    let optional_text = |t: &mut Draft<'_>, p: &str, v: Option<&str>| match v {
        Some(v) => t.set(&node, &seam(p), text(v)),
        None => t.remove_all(&node, &seam(p)),
    };
    optional_text(t, "backend", target.backend.as_deref());
    optional_text(t, "via", target.via.as_deref());
    // What runs where is true when the rollout says installed, not only once the LwM2M bridge's
    // next batch (which writes the same) reaches a slow store.
    if target.state == TargetState::Installed {
        if let (Some(device), Some(sha)) = (iri(&target.device_iri), target.artifact.as_deref()) {
            t.set(&device, &seam("runs"), crate::iri::artifact(sha));
        }
    }
}

/// Values of one subject, by predicate.
struct Subject(Vec<(NamedNode, Term)>);

impl Subject {
    fn read(registry: &Registry, subject: &NamedNode) -> Result<Self, StoreError> {
        let s = NamedOrBlankNode::from(subject.clone());
        Ok(Self(
            registry
                .quads_for_pattern(QuadPattern {
                    subject: Some(&s),
                    ..QuadPattern::default()
                })?
                .into_iter()
                .map(|q| (q.predicate, q.object))
                .collect(),
        ))
    }

    fn all<'a>(&'a self, predicate: &'a NamedNode) -> impl Iterator<Item = &'a Term> + 'a {
        self.0.iter().filter(move |(p, _)| p == predicate).map(|(_, o)| o)
    }

    fn text(&self, predicate: &NamedNode) -> Option<String> {
        self.all(predicate).find_map(|o| match o {
            Term::Literal(l) => Some(l.value().to_owned()),
            _ => None,
        })
    }

    fn iri(&self, predicate: &NamedNode) -> Option<String> {
        self.all(predicate).find_map(|o| match o {
            Term::NamedNode(n) => Some(n.as_str().to_owned()),
            _ => None,
        })
    }

    fn sha(&self, predicate: &NamedNode) -> Option<String> {
        self.iri(predicate)
            .and_then(|i| i.rsplit('/').next().map(str::to_owned))
    }
}

/// Every rollout the graph holds, with its targets.
pub(crate) fn read_all(registry: &Registry) -> Result<Vec<Rollout>, StoreError> {
    let rdf_type = rdf::TYPE.into_owned();
    let class = Term::from(seam("Rollout"));
    let subjects = registry.quads_for_pattern(QuadPattern {
        predicate: Some(&rdf_type),
        object: Some(&class),
        ..QuadPattern::default()
    })?;
    let mut out = Vec::new();
    for quad in subjects {
        let NamedOrBlankNode::NamedNode(node) = quad.subject else {
            continue;
        };
        out.extend(read_one(registry, &node)?);
    }
    Ok(out)
}

/// The service that drives each rollout, among several on one store (rollouts without one are
/// absent).
pub(crate) fn drivers(registry: &Registry) -> Result<std::collections::HashMap<String, NamedNode>, StoreError> {
    let driven_by = seam("drivenBy");
    let quads = registry.quads_for_pattern(QuadPattern {
        predicate: Some(&driven_by),
        ..QuadPattern::default()
    })?;
    Ok(quads
        .into_iter()
        .filter_map(|q| match (q.subject, q.object) {
            (NamedOrBlankNode::NamedNode(r), Term::NamedNode(i)) => Some((r.into_string(), i)),
            _ => None,
        })
        .collect())
}

/// The rollout `node` as the graph has it; `None` when the graph holds no readable rollout
/// there.
pub(crate) fn read_one(registry: &Registry, node: &NamedNode) -> Result<Option<Rollout>, StoreError> {
    {
        let r = Subject::read(registry, node)?;
        let Some(spec) = r
            .text(&seam("spec"))
            .and_then(|s| serde_json::from_str::<RolloutSpec>(&s).ok())
        else {
            tracing::warn!(target: "seam", rollout = %node, "a rollout without a readable spec is left as it is");
            return Ok(None);
        };
        let Some(state) = r.text(&seam("state")).as_deref().and_then(RolloutState::parse) else {
            return Ok(None);
        };
        let mut targets = Vec::new();
        for target_node in r.all(&seam("hasTarget")) {
            let Term::NamedNode(target_node) = target_node else {
                continue;
            };
            let t = Subject::read(registry, target_node)?;
            let (Some(device), Some(state)) = (
                t.text(&seam("deviceName")),
                t.text(&seam("state")).as_deref().and_then(TargetState::parse),
            ) else {
                continue;
            };
            targets.push(Target {
                device,
                device_iri: t.iri(&seam("device")).unwrap_or_default(),
                board: t.iri(&seam("onBoard")),
                group: t.text(&seam("group")).and_then(|g| g.parse::<u32>().ok()),
                state,
                reason: t.text(&seam("reason")).unwrap_or_default(),
                runtime: t.iri(&seam("runtime")),
                backend: t.text(&seam("backend")),
                via: t.text(&seam("via")),
                artifact: t.sha(&seam("artifact")),
                previous_artifact: t.sha(&seam("previousArtifact")),
            });
        }
        // Delivery order: by group, then by name; skipped devices last.
        targets.sort_by(|a, b| (a.group.is_none(), a.group, &a.device).cmp(&(b.group.is_none(), b.group, &b.device)));
        let id = node.as_str().rsplit('/').next().unwrap_or_default().to_owned();
        Ok(Some(Rollout {
            id,
            iri: node.as_str().to_owned(),
            model_name: r.text(&seam("modelName")).unwrap_or_default(),
            spec,
            state,
            reason: r.text(&seam("reason")).unwrap_or_default(),
            started: r.text(&prov("startedAtTime")).unwrap_or_default(),
            ended: r.text(&prov("endedAtTime")),
            builds: Vec::new(),
            targets,
            timings: super::Timings::default(),
        }))
    }
}
