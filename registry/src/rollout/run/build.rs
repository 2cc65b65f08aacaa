//! Building: one compile per distinct (board, runtime, backend, via), each package judged on
//! every device it is for.

use super::*;

/// Builds one package per distinct (board, runtime, backend, via) and judges it on every device
/// it is for; a device it does not fit, or whose package could not be built, is skipped.
pub(super) async fn build(rollouts: &Rollouts, held: &Arc<Held>, bridge: &Lwm2mBridge) {
    let rollout = lock(&held.rollout).clone();
    let inner = rollouts.inner.clone();
    let bridge = bridge.clone();
    let outcome = tokio::task::spawn_blocking(move || build_blocking(&inner, &bridge, &rollout)).await;
    let (builds, decided) = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(reason)) => {
            let r = lock(&held.rollout).clone();
            let all = r
                .targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.state == TargetState::Pending)
                .map(|(i, _)| (i, Err(reason.clone())))
                .collect();
            (Vec::new(), all)
        }
        Err(e) => {
            tracing::error!(target: "seam", error = %e, "the rollout's build task failed");
            return;
        }
    };
    let snapshot = {
        let mut r = lock(&held.rollout);
        r.builds = builds.clone();
        for (i, decision) in decided {
            let Some(t) = r.targets.get_mut(i) else { continue };
            match decision {
                Ok(sha) if t.previous_artifact.as_deref() == Some(sha.as_str()) => {
                    // Flashing a device with what it runs already would only risk it.
                    t.state = TargetState::Installed;
                    t.reason = "already runs this artifact: nothing delivered".into();
                    t.artifact = Some(sha);
                }
                Ok(sha) => t.artifact = Some(sha),
                Err(reason) => {
                    t.state = TargetState::Skipped;
                    t.group = None;
                    t.reason = reason;
                }
            }
        }
        r.clone()
    };
    let registry = rollouts.inner.registry.clone();
    let written = {
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || {
            registry.change(|t| {
                for b in &snapshot.builds {
                    record::write_build(t, &snapshot, b);
                }
                for target in &snapshot.targets {
                    record::write_target(t, &snapshot.iri, target);
                }
            })
        })
        .await
    };
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!(target: "seam", rollout = %snapshot.id, "the rollout's builds could not be written to the graph");
    }
    let _ = rollouts
        .inner
        .events
        .send(event(&snapshot, None, &format!("{} package(s) built", builds.len())));
}

/// Per target index: the package's SHA-256, or why the device is skipped.
type Decisions = Vec<(usize, Result<String, String>)>;

fn build_blocking(
    inner: &crate::rollout::Inner,
    bridge: &Lwm2mBridge,
    rollout: &Rollout,
) -> Result<(Vec<Build>, Decisions), String> {
    use seam_compiler_bridge::compile::safe_stem;

    let path = crate::rollout::plan::model_file(&inner.registry, &inner.data, &rollout.spec.model)
        .map_err(|e| e.to_string())?;
    let (bytes, analysis) = crate::rollout::plan::measure(&path)?;
    let compilers = inner.data.compilers();
    let declarations: Vec<std::path::PathBuf> = compilers.is_file().then_some(compilers).into_iter().collect();
    let packager = Packager::open(&inner.data, &declarations).map_err(|e| e.to_string())?;
    let indexed = inner.fleet.fleet().map_err(|e| e.to_string())?;
    let fleet = crate::rollout::plan::buildable(&indexed);
    let declared = fleet
        .models
        .get(&rollout.spec.model)
        .ok_or_else(|| format!("the model {} is no longer in the graph", rollout.spec.model))?;
    let built = crate::rollout::plan::as_built(declared, &analysis);
    let model = &built;
    let opts = MatchOptions {
        headroom_pct: rollout.spec.headroom_pct,
        ..MatchOptions::default()
    };
    let stem = safe_stem(&rollout.model_name);

    // Devices by what their package is built for.
    type Key = (Option<String>, String, Option<String>, String);
    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    let mut decided: Decisions = Vec::new();
    for (i, t) in rollout.targets.iter().enumerate() {
        if t.state != TargetState::Pending || t.artifact.is_some() {
            continue;
        }
        let (Some(runtime), Some(via)) = (t.runtime.clone(), t.via.clone()) else {
            decided.push((i, Err("no runtime was planned for the device".into())));
            continue;
        };
        by_key
            .entry((t.board.clone(), runtime, t.backend.clone(), via))
            .or_default()
            .push(i);
    }
    let mut builds = Vec::new();
    for ((board, runtime, backend, via), members) in by_key {
        let mut build = Build {
            board: board.clone(),
            runtime: runtime.clone(),
            backend: backend.clone(),
            via: via.clone(),
            devices: members.len(),
            artifact: None,
            cache_hit: false,
            error: None,
        };
        // The first device's plan stands for the key; each device is judged on its own below.
        let plans: Vec<(usize, Result<packaging::Plan, String>)> = members
            .iter()
            .map(|&i| {
                let plan =
                    packaging::plan(&fleet, model, &rollout.targets[i].device_iri, &opts).map_err(|e| e.to_string());
                (i, plan)
            })
            .collect();
        let Some(first) = plans.iter().find_map(|(_, p)| p.as_ref().ok()) else {
            for (i, p) in plans {
                decided.push((i, Err(p.err().unwrap_or_default())));
            }
            builds.push(build);
            continue;
        };
        let compiled = packaging::compile_for_board(&inner.registry, &packager, &bytes, &model.iri, &stem, first)
            .map_err(|e| format!("the package could not be built: {e}"))
            .and_then(|c| {
                bridge
                    .add_package(c.package.clone())
                    .map(|sha| (c, sha))
                    .map_err(|e| format!("the package could not be stored: {e}"))
            });
        match compiled {
            Err(reason) => {
                build.error = Some(reason.clone());
                for (i, _) in plans {
                    decided.push((i, Err(reason.clone())));
                }
            }
            Ok((compiled, sha)) => {
                build.artifact = Some(sha.clone());
                build.cache_hit = compiled.cache_hit;
                let mut operators = crate::ingest::onnx::onnx_operator_names(&analysis);
                if via == "int8" {
                    operators.insert("DequantizeLinear".into());
                }
                let size = |k: &str| compiled.manifest.sizes.get(k).copied().unwrap_or(0);
                let needs = Needs {
                    arena_bytes: size("arenaBytes"),
                    device_bytes: size("deviceBytes"),
                    operators: &operators,
                };
                for (i, p) in plans {
                    let decision = match p {
                        Err(reason) => Err(reason),
                        Ok(plan) => {
                            let fit = packaging::judge(&fleet, &plan, &needs, &opts);
                            if fit.fits {
                                Ok(sha.clone())
                            } else {
                                Err(format!(
                                    "the built package does not fit: RAM {} of {} free, flash {} of {} free{}",
                                    fit.ram_needed_bytes,
                                    fit.ram_free_bytes,
                                    fit.flash_needed_bytes,
                                    fit.flash_free_bytes,
                                    if fit.missing_operators.is_empty() {
                                        String::new()
                                    } else {
                                        format!(", operators the runtime lacks: {}", fit.missing_operators.join(", "))
                                    }
                                ))
                            }
                        }
                    };
                    decided.push((i, decision));
                }
            }
        }
        builds.push(build);
    }
    Ok((builds, decided))
}
