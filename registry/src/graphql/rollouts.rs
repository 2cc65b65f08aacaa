//! Rollouts in GraphQL: `rollout(id)` and `rollouts`, the `startRollout`, `pauseRollout`,
//! `resumeRollout`, `cancelRollout` and `retryFailedRollout` mutations, and the
//! `rolloutEvents(id)` subscription (over `/graphql/ws`, graphql-transport-ws). The same
//! [`Rollouts`] as `/rollouts` answers them.

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, Error, ErrorExtensions, InputObject, Object, Result, SimpleObject, Subscription, ID};

use super::{bad_input, require};
use crate::rollout::{self, NamedQueryRequest, RolloutError, RolloutRequest, RolloutSpec, Rollouts};

/// How many devices are in one state.
#[derive(Debug, Clone, SimpleObject)]
pub struct StateCount {
    /// The state (`pending`, `installed`, `failed`, ...).
    pub state: String,
    /// How many devices.
    pub devices: i64,
}

fn counts(counts: &rollout::Counts) -> Vec<StateCount> {
    counts
        .iter()
        .map(|(state, n)| StateCount {
            state: (*state).to_owned(),
            devices: *n as i64,
        })
        .collect()
}

/// One device of a rollout.
#[derive(Debug, Clone, SimpleObject)]
pub struct RolloutDevice {
    /// Its LwM2M endpoint name.
    pub device: String,
    /// Its IRI.
    pub device_iri: String,
    /// Its board.
    pub board: Option<String>,
    /// Its group (0 is the canary); none when it is skipped.
    pub group: Option<i64>,
    /// Where it is.
    pub state: String,
    /// Why (a skip's matching reasons, a failure's detail).
    pub reason: String,
    /// The runtime the model runs on there.
    pub runtime: Option<String>,
    /// `as-is` or `int8`.
    pub via: Option<String>,
    /// SHA-256 of its package.
    pub artifact: Option<String>,
    /// SHA-256 of what it ran before.
    pub previous_artifact: Option<String>,
}

/// One group of a rollout.
#[derive(Debug, Clone, SimpleObject)]
pub struct RolloutGroup {
    /// The group (0 is the canary).
    pub group: i64,
    /// Its devices.
    pub devices: i64,
    /// Devices per state.
    pub counts: Vec<StateCount>,
}

/// One package a rollout built.
#[derive(Debug, Clone, SimpleObject)]
pub struct RolloutBuild {
    /// The board.
    pub board: Option<String>,
    /// The runtime.
    pub runtime: String,
    /// The backend.
    pub backend: Option<String>,
    /// `as-is` or `int8`.
    pub via: String,
    /// Devices it is for.
    pub devices: i64,
    /// Its SHA-256.
    pub artifact: Option<String>,
    /// Whether the package cache held it.
    pub cache_hit: bool,
    /// Why it could not be built.
    pub error: Option<String>,
}

/// A rollout: a model put on devices in groups.
#[derive(Debug, Clone, SimpleObject)]
pub struct Rollout {
    /// Its id.
    pub id: ID,
    /// Its IRI in the graph.
    pub iri: String,
    /// The model's IRI.
    pub model: String,
    /// The model's name.
    pub model_name: String,
    /// `building`, `running`, `paused`, `halted`, `cancelled` or `completed`.
    pub state: String,
    /// Why it halted or ended as it did.
    pub reason: String,
    /// When it started.
    pub started: String,
    /// When it ended.
    pub ended: Option<String>,
    /// Devices per state.
    pub counts: Vec<StateCount>,
    /// Groups and their devices per state.
    pub groups: Vec<RolloutGroup>,
    /// The packages built.
    pub builds: Vec<RolloutBuild>,
    /// Every device.
    pub devices: Vec<RolloutDevice>,
}

impl From<rollout::Rollout> for Rollout {
    fn from(r: rollout::Rollout) -> Self {
        Self {
            id: ID(r.id.clone()),
            iri: r.iri.clone(),
            model: r.spec.model.clone(),
            model_name: r.model_name.clone(),
            state: r.state.as_str().to_owned(),
            reason: r.reason.clone(),
            started: r.started.clone(),
            ended: r.ended.clone(),
            counts: counts(&r.counts()),
            groups: r
                .groups()
                .into_iter()
                .map(|g| RolloutGroup {
                    group: i64::from(g.group),
                    devices: g.devices as i64,
                    counts: counts(&g.by_state),
                })
                .collect(),
            builds: r
                .builds
                .into_iter()
                .map(|b| RolloutBuild {
                    board: b.board,
                    runtime: b.runtime,
                    backend: b.backend,
                    via: b.via,
                    devices: b.devices as i64,
                    artifact: b.artifact,
                    cache_hit: b.cache_hit,
                    error: b.error,
                })
                .collect(),
            devices: r
                .targets
                .into_iter()
                .map(|t| RolloutDevice {
                    device: t.device,
                    device_iri: t.device_iri,
                    board: t.board,
                    group: t.group.map(i64::from),
                    state: t.state.as_str().to_owned(),
                    reason: t.reason,
                    runtime: t.runtime,
                    via: t.via,
                    artifact: t.artifact,
                    previous_artifact: t.previous_artifact,
                })
                .collect(),
        }
    }
}

/// Something that happened in a rollout.
#[derive(Debug, Clone, SimpleObject)]
pub struct RolloutEvent {
    /// The rollout.
    pub rollout: ID,
    /// The rollout's state after the event.
    pub state: String,
    /// The device that changed, when one did.
    pub device: Option<String>,
    /// Its new state.
    pub device_state: Option<String>,
    /// Why.
    pub reason: String,
    /// Devices per state after the event.
    pub counts: Vec<StateCount>,
}

impl From<rollout::RolloutEvent> for RolloutEvent {
    fn from(e: rollout::RolloutEvent) -> Self {
        Self {
            rollout: ID(e.rollout),
            state: e.state.as_str().to_owned(),
            device: e.device,
            device_state: e.device_state.map(|s| s.as_str().to_owned()),
            reason: e.reason,
            counts: counts(&e.counts),
        }
    }
}

/// A named query and its parameters, selecting devices.
#[derive(Debug, InputObject)]
pub struct NamedQueryInput {
    /// The query's name (`GET /queries` lists them).
    pub name: String,
    /// Its parameters, as `name=value` pairs.
    #[graphql(default)]
    pub params: Vec<ParamInput>,
}

/// One parameter of a named query.
#[derive(Debug, InputObject)]
pub struct ParamInput {
    /// The parameter.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// What `startRollout` takes: the model, one way of selecting devices, and the rules.
#[derive(Debug, InputObject)]
pub struct RolloutInput {
    /// The model's IRI (a model registered from its file).
    pub model: String,
    /// These devices (short names or IRIs).
    pub devices: Option<Vec<String>>,
    /// The devices the first column of this SPARQL SELECT names.
    #[graphql(name = "where")]
    pub select: Option<String>,
    /// The devices a named query selects.
    pub named_query: Option<NamedQueryInput>,
    /// Every device the model is compatible with.
    #[graphql(default)]
    pub compatible: bool,
    /// The canary group, percent of the devices.
    pub canary_pct: Option<f64>,
    /// The canary group, devices.
    pub canary_size: Option<i64>,
    /// Devices per group after the canary.
    pub wave_size: Option<i64>,
    /// Installs (percent of a group) that start the next group.
    pub success_threshold_pct: Option<f64>,
    /// Failures (percent of a group) above which the rollout halts.
    pub error_threshold_pct: Option<f64>,
    /// Deliveries in flight at once.
    pub concurrency: Option<i64>,
    /// Roll back on a halt (default true).
    pub rollback: Option<bool>,
    /// Seconds a device offline at its turn is waited for.
    pub offline_deadline_s: Option<i64>,
    /// `pull` or `push`.
    pub method: Option<String>,
}

fn count(name: &str, v: Option<i64>) -> Result<Option<usize>> {
    v.map(|n| usize::try_from(n).map_err(|_| bad_input(format!("{name} must not be negative, not {n}"))))
        .transpose()
}

impl RolloutInput {
    /// The same request `POST /rollouts` takes, so both surfaces accept and refuse alike.
    fn into_spec(self) -> Result<RolloutSpec> {
        let offline_deadline_s = self
            .offline_deadline_s
            .map(|v| u64::try_from(v).map_err(|_| bad_input(format!("offlineDeadlineS must not be negative, not {v}"))))
            .transpose()?;
        RolloutRequest {
            model: self.model,
            devices: self.devices,
            select: self.select,
            named_query: self.named_query.map(|n| NamedQueryRequest {
                name: n.name,
                params: n.params.into_iter().map(|p| (p.name, p.value)).collect(),
            }),
            compatible: self.compatible,
            canary_pct: self.canary_pct,
            canary_size: count("canarySize", self.canary_size)?,
            wave_size: count("waveSize", self.wave_size)?,
            success_threshold_pct: self.success_threshold_pct,
            error_threshold_pct: self.error_threshold_pct,
            concurrency: count("concurrency", self.concurrency)?,
            rollback: self.rollback,
            offline_deadline_s,
            method: self.method,
            headroom_pct: None,
        }
        .into_spec()
        .map_err(bad_input)
    }
}

/// A rollout error as a GraphQL error with a code clients can switch on.
fn rollout_error(e: RolloutError) -> Error {
    let code = match &e {
        RolloutError::NotFound(_) => "NOT_FOUND",
        RolloutError::Busy(_) | RolloutError::WrongState { .. } => "CONFLICT",
        RolloutError::NoLwm2m => "UNAVAILABLE",
        RolloutError::Graph(_) => "INTERNAL",
        _ => "BAD_USER_INPUT",
    };
    Error::new(e.to_string()).extend_with(|_, x| x.set("code", code))
}

fn rollouts<'a>(ctx: &Context<'a>) -> Result<&'a Rollouts> {
    ctx.data_opt::<Rollouts>()
        .ok_or_else(|| rollout_error(RolloutError::NoLwm2m))
}

/// The rollout fields of the query root.
#[derive(Default)]
pub struct RolloutQuery;

#[Object]
impl RolloutQuery {
    /// A rollout by id.
    async fn rollout(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Rollout>> {
        Ok(rollouts(ctx)?.get(&id).map(Rollout::from))
    }

    /// Every rollout, oldest first.
    async fn rollouts(&self, ctx: &Context<'_>) -> Result<Vec<Rollout>> {
        Ok(rollouts(ctx)?.list().into_iter().map(Rollout::from).collect())
    }
}

/// The rollout mutations (they require the write token).
#[derive(Default)]
pub struct RolloutMutation;

#[Object]
impl RolloutMutation {
    /// Plans and starts a rollout; answers it as planned. A refusal starts nothing.
    async fn start_rollout(&self, ctx: &Context<'_>, input: RolloutInput) -> Result<Rollout> {
        require(ctx, crate::access::Scope::Deploy)?;
        let spec = input.into_spec()?;
        let started = rollouts(ctx)?.begin(spec).await.map_err(rollout_error)?;
        Ok(started.into())
    }

    /// Pauses a rollout: deliveries in flight finish, none start.
    async fn pause_rollout(&self, ctx: &Context<'_>, id: ID) -> Result<Rollout> {
        require(ctx, crate::access::Scope::Deploy)?;
        Ok(rollouts(ctx)?.pause(&id).await.map_err(rollout_error)?.into())
    }

    /// Resumes a paused rollout.
    async fn resume_rollout(&self, ctx: &Context<'_>, id: ID) -> Result<Rollout> {
        require(ctx, crate::access::Scope::Deploy)?;
        Ok(rollouts(ctx)?.resume(&id).await.map_err(rollout_error)?.into())
    }

    /// Cancels a rollout: the devices not yet started are never touched; nothing is rolled back.
    async fn cancel_rollout(&self, ctx: &Context<'_>, id: ID) -> Result<Rollout> {
        require(ctx, crate::access::Scope::Deploy)?;
        Ok(rollouts(ctx)?.cancel(&id).await.map_err(rollout_error)?.into())
    }

    /// Gives the failed devices of a finished rollout another turn.
    async fn retry_failed_rollout(&self, ctx: &Context<'_>, id: ID) -> Result<Rollout> {
        require(ctx, crate::access::Scope::Deploy)?;
        Ok(rollouts(ctx)?.retry_failed(&id).await.map_err(rollout_error)?.into())
    }
}

/// Subscriptions (over `/graphql/ws`).
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// A rollout's events as they happen: first its state now, then every change of a device or
    /// of the rollout; the stream ends with the rollout.
    async fn rollout_events(&self, ctx: &Context<'_>, id: ID) -> Result<impl Stream<Item = RolloutEvent>> {
        let rollouts = rollouts(ctx)?;
        // Subscribed before the snapshot is taken: no event falls between the two.
        let receiver = rollouts.subscribe();
        let now = rollouts
            .get(&id)
            .ok_or_else(|| rollout_error(RolloutError::NotFound(id.to_string())))?;
        let first = RolloutEvent {
            rollout: ID(now.id.clone()),
            state: now.state.as_str().to_owned(),
            device: None,
            device_state: None,
            reason: now.reason.clone(),
            counts: counts(&now.counts()),
        };
        let ended = !now.state.is_active();
        let id = id.to_string();
        let rest = stream::unfold((receiver, ended), move |(mut receiver, ended)| {
            let id = id.clone();
            async move {
                if ended {
                    return None;
                }
                loop {
                    match receiver.recv().await {
                        Ok(e) if e.rollout == id => {
                            let last = e.device.is_none() && !e.state.is_active();
                            return Some((RolloutEvent::from(e), (receiver, last)));
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(stream::StreamExt::chain(stream::once(async move { first }), rest))
    }
}
