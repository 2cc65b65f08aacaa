//! Matching in the schema: the match report, compatible devices and the fleet matrix, answered
//! from the fleet index on the blocking pool, each with a complexity cost of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, Result, ScalarType, SelectionField, SimpleObject, Value};

use super::built::{self, Built, Plan};
use super::scalars::Long;
use super::{bad_input, internal};
use crate::matching::{self, FleetIndex, MatchOptions};
use crate::vocab::expand;

/// A compatible model (the `seam match --json` shape).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(rename_fields = "camelCase")]
pub struct CompatibleModel {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Task label.
    pub task: Option<String>,
    /// Accuracy (0..1).
    pub accuracy: Option<f64>,
    /// Estimated latency, ms.
    pub estimated_latency_ms: Option<f64>,
    /// What the latency estimate assumes (runtime, core, clock, MACs per cycle, source).
    pub latency_assumption: Option<LatencyAssumption>,
    /// RAM needed, bytes.
    pub ram_bytes: Long,
    /// Flash needed, bytes.
    pub flash_bytes: Long,
    /// "as-is" or "int8".
    pub via: String,
    /// The runtime it runs on.
    pub runtime: String,
}

/// What a latency estimate assumes: MACs ÷ (clock × MACs per cycle).
#[derive(Debug, Clone, SimpleObject)]
pub struct LatencyAssumption {
    /// The runtime the figure is for.
    pub runtime: String,
    /// The board's core.
    pub core: Option<String>,
    /// The clock assumed (the board's nominal clock), Hz.
    pub clock_hz: Long,
    /// MACs per cycle assumed.
    pub macs_per_cycle: f64,
    /// The data type computed in.
    pub dtype: String,
    /// The class of model a measured figure is for.
    pub operator_class: Option<String>,
    /// "measured" (a runtime's published measurement) or "estimate" (SEAM's figure for the core).
    pub basis: String,
    /// Where the figure comes from.
    pub source: Option<String>,
}

/// Why a model does not run.
#[derive(Debug, Clone, SimpleObject)]
pub struct Reason {
    /// ram, flash, sensor, dtype, operator, runtime or latency.
    pub constraint: String,
    /// What the model needs.
    pub required: String,
    /// What the device offers.
    pub available: String,
    /// Unit of the two, when quantities.
    pub unit: Option<String>,
    /// One sentence.
    pub message: String,
}

/// A rejected model.
#[derive(Debug, Clone, SimpleObject)]
pub struct RejectedModel {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
    /// Every reason.
    pub reasons: Vec<Reason>,
}

/// Models for a device.
#[derive(Debug, SimpleObject)]
#[graphql(complex)]
pub struct MatchReport {
    /// Device IRI (the board's IRI when a board type was asked about).
    pub device: String,
    /// Whether this is a board type judged on its datasheet figures with nothing reserved.
    pub board: bool,
    /// Free RAM the percentages are of, bytes.
    pub free_ram_bytes: Option<Long>,
    /// Free flash, bytes.
    pub free_flash_bytes: Option<Long>,
    /// Compatible models, ranked (answered by `compatible`).
    #[graphql(skip)]
    pub compatible_models: Compatibles,
    /// Rejected models (with `explain: true`).
    pub rejected: Option<Vec<RejectedModel>>,
}

#[ComplexObject]
impl MatchReport {
    /// Compatible models, ranked.
    async fn compatible(&self, ctx: &Context<'_>) -> Built<Vec<CompatibleModel>> {
        // Built in one pass (see `built`): the list a client asks for most, and the largest.
        let plan = Plan::of(&ctx.field(), ModelField::of, ModelField::merge);
        Built::new(self.compatible_models.read(&plan))
    }
}

/// A report's compatible models, for the resolutions of `compatible` that read them.
#[derive(Debug)]
pub struct Compatibles {
    list: std::sync::Mutex<Vec<matching::Compatible>>,
    /// Resolutions of `compatible` still to come, as counted in the client's selection: at
    /// least as many as will run (a skipped one counts too, and then none is the last).
    readers: AtomicUsize,
}

impl Compatibles {
    /// `list`, to be read by the `compatible` fields of the selection `report` (a field under
    /// two aliases, or in a fragment, is two readers).
    fn new(list: Vec<matching::Compatible>, report: &async_graphql::SelectionField<'_>) -> Self {
        Self {
            list: std::sync::Mutex::new(list),
            readers: AtomicUsize::new(report.selection_set().filter(|f| f.name() == "compatible").count()),
        }
    }

    /// The list as `plan` selects it. The last reader takes the models' strings instead of
    /// copying them, when no field is planned twice (under two aliases) and so read twice from
    /// one model.
    fn read(&self, plan: &Plan<ModelField>) -> Value {
        let Ok(mut list) = self.list.lock() else {
            return Value::Null;
        };
        let last = self
            .readers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            == Ok(1);
        let kinds: Vec<_> = plan.kinds().map(std::mem::discriminant).collect();
        let take = last && kinds.iter().enumerate().all(|(i, kind)| !kinds[..i].contains(kind));
        Value::List(list.iter_mut().map(|c| plan.object(|f| f.value(c, take))).collect())
    }
}

/// A field of `CompatibleModel`, as selected.
enum ModelField {
    Model,
    Name,
    Task,
    Accuracy,
    EstimatedLatencyMs,
    LatencyAssumption(Plan<AssumptionField>),
    RamBytes,
    FlashBytes,
    Via,
    Runtime,
    Typename,
    /// Validation admits no other name.
    Other,
}

impl ModelField {
    fn of(field: &SelectionField<'_>) -> Self {
        match field.name() {
            "model" => Self::Model,
            "name" => Self::Name,
            "task" => Self::Task,
            "accuracy" => Self::Accuracy,
            "estimatedLatencyMs" => Self::EstimatedLatencyMs,
            "latencyAssumption" => Self::LatencyAssumption(Plan::of(field, AssumptionField::of, |_, _| {})),
            "ramBytes" => Self::RamBytes,
            "flashBytes" => Self::FlashBytes,
            "via" => Self::Via,
            "runtime" => Self::Runtime,
            "__typename" => Self::Typename,
            _ => Self::Other,
        }
    }

    /// The same key selected again: an object's sub-selections add up.
    fn merge(&mut self, again: Self) {
        if let (Self::LatencyAssumption(plan), Self::LatencyAssumption(more)) = (self, again) {
            for (name, field) in more.into_entries() {
                plan.add(name, field);
            }
        }
    }

    /// Its value for `c`, as the derived resolver gives it; with `take`, `c`'s strings are
    /// moved into it (the caller's last read of `c`).
    fn value(&self, c: &mut matching::Compatible, take: bool) -> Value {
        let string = |s: &mut String| Value::String(if take { std::mem::take(s) } else { s.clone() });
        match self {
            Self::Model => string(&mut c.model),
            Self::Name => string(&mut c.name),
            Self::Task => c.task.as_mut().map_or(Value::Null, string),
            Self::Accuracy => built::optional_float(c.accuracy),
            Self::EstimatedLatencyMs => built::optional_float(c.estimated_latency_ms),
            Self::LatencyAssumption(plan) => c
                .latency_assumption
                .as_deref()
                .map_or(Value::Null, |a| plan.object(|f| f.value(a))),
            Self::RamBytes => Long(c.ram_bytes).to_value(),
            Self::FlashBytes => Long(c.flash_bytes).to_value(),
            Self::Via => Value::String(via(c.via)),
            Self::Runtime => string(&mut c.runtime),
            Self::Typename => Value::String("CompatibleModel".into()),
            Self::Other => Value::Null,
        }
    }
}

/// A field of `LatencyAssumption`, as selected.
enum AssumptionField {
    Runtime,
    Core,
    ClockHz,
    MacsPerCycle,
    Dtype,
    OperatorClass,
    Basis,
    Source,
    Typename,
    Other,
}

impl AssumptionField {
    fn of(field: &SelectionField<'_>) -> Self {
        match field.name() {
            "runtime" => Self::Runtime,
            "core" => Self::Core,
            "clockHz" => Self::ClockHz,
            "macsPerCycle" => Self::MacsPerCycle,
            "dtype" => Self::Dtype,
            "operatorClass" => Self::OperatorClass,
            "basis" => Self::Basis,
            "source" => Self::Source,
            "__typename" => Self::Typename,
            _ => Self::Other,
        }
    }

    fn value(&self, a: &matching::LatencyAssumption) -> Value {
        match self {
            Self::Runtime => Value::String(a.runtime.clone()),
            Self::Core => built::optional_string(a.core.as_deref()),
            Self::ClockHz => Long(a.clock_hz).to_value(),
            Self::MacsPerCycle => built::optional_float(Some(a.macs_per_cycle)),
            Self::Dtype => Value::String(a.dtype.clone()),
            Self::OperatorClass => built::optional_string(a.operator_class.as_deref()),
            Self::Basis => Value::String(a.basis.clone()),
            Self::Source => built::optional_string(a.source.as_deref()),
            Self::Typename => Value::String("LatencyAssumption".into()),
            Self::Other => Value::Null,
        }
    }
}

fn via(v: matching::Via) -> String {
    match v {
        matching::Via::AsIs => "as-is".into(),
        matching::Via::Int8 => "int8".into(),
    }
}

fn compatible_model(c: matching::Compatible) -> CompatibleModel {
    CompatibleModel {
        model: c.model,
        name: c.name,
        task: c.task,
        accuracy: c.accuracy,
        estimated_latency_ms: c.estimated_latency_ms,
        latency_assumption: c.latency_assumption.map(|a| *a).map(|a| LatencyAssumption {
            runtime: a.runtime,
            core: a.core,
            clock_hz: Long(a.clock_hz),
            macs_per_cycle: a.macs_per_cycle,
            dtype: a.dtype,
            operator_class: a.operator_class,
            basis: a.basis,
            source: a.source,
        }),
        ram_bytes: Long(c.ram_bytes),
        flash_bytes: Long(c.flash_bytes),
        via: via(c.via),
        runtime: c.runtime,
    }
}

/// A device a model runs on.
#[derive(Debug, Clone, SimpleObject)]
pub struct DeviceMatch {
    /// Device IRI.
    pub device: String,
    /// Its short name.
    pub short_name: Option<String>,
    /// How the model runs there.
    pub fit: CompatibleModel,
}

/// A compatible pair of the fleet.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatrixCell {
    /// Device IRI.
    pub device: String,
    /// Model IRI.
    pub model: String,
    /// "as-is" or "int8".
    pub via: String,
}

/// What the rows of `compatibilityMatrix` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum MatrixRows {
    /// One row per board, counting its devices.
    Boards,
    /// One row per device.
    Devices,
}

/// A model column of the matrix.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatrixModel {
    /// Model IRI.
    pub model: String,
    /// Model name.
    pub name: String,
}

/// How many of a row's devices run a model, and how.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatrixCount {
    /// As it is.
    pub as_is: i32,
    /// Through its int8 variant.
    pub int8: i32,
    /// Not at all.
    pub no: i32,
}

/// A row of the matrix.
#[derive(Debug, Clone, SimpleObject)]
pub struct MatrixRow {
    /// The device's or board's IRI (empty: devices that name no board).
    pub key: String,
    /// The device's short name or the board's label.
    pub label: String,
    /// The board (IRI).
    pub board: Option<String>,
    /// Devices the row counts.
    pub devices: i32,
    /// One per model of the window, in its order.
    pub cells: Vec<MatrixCount>,
}

/// A window of the compatibility matrix.
#[derive(Debug, Clone, SimpleObject)]
pub struct CompatibilityMatrix {
    /// Rows in all.
    pub total_rows: i32,
    /// Models in all.
    pub total_models: i32,
    /// The window's models, by name.
    pub models: Vec<MatrixModel>,
    /// The window's rows (boards by most devices; devices by board, then name).
    pub rows: Vec<MatrixRow>,
}

fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn window(offset: i32, limit: i32, most: i32, what: &str) -> Result<matching::grid::Window> {
    if offset < 0 || !(0..=most).contains(&limit) {
        return Err(bad_input(format!(
            "`{what}Offset` must not be negative and `{what}Limit` must be between 0 and {most}"
        )));
    }
    Ok(matching::grid::Window {
        offset: offset as usize,
        limit: limit as usize,
    })
}

fn options(latency_budget_ms: Option<f64>, headroom_pct: Option<i32>) -> Result<MatchOptions> {
    if latency_budget_ms.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
        return Err(bad_input("latencyBudgetMs must be a positive number"));
    }
    let headroom =
        u64::try_from(headroom_pct.unwrap_or(10)).map_err(|_| bad_input("headroomPct must not be negative"))?;
    MatchOptions::checked(headroom, latency_budget_ms.map(|ms| ms / 1e3)).map_err(|e| bad_input(&e))
}

/// What a whole-fleet match costs against the complexity limit (20,000): a request may hold a
/// few, not thousands of aliases of one.
const COMPLEXITY_FLEET_MATRIX: usize = 4_000;
/// What matching one device against every model costs.
const COMPLEXITY_PER_DEVICE: usize = 200;
/// What matching one model against every device costs.
const COMPLEXITY_PER_MODEL: usize = 400;

/// Runs matching work on the blocking pool: it is CPU-bound and grows with the fleet, and the
/// HTTP workers must stay free for cheap requests such as `/health`.
async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(internal)
}

async fn fleet(index: &FleetIndex) -> Result<Arc<matching::Fleet>> {
    // The index is current almost always; only a rebuild reads the store (on the blocking pool).
    if let Some(fleet) = index.cached() {
        return Ok(fleet);
    }
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.fleet())
        .await
        .map_err(internal)?
        .map_err(internal)
}

/// The matching fields of the query root.
#[derive(Default)]
pub struct MatchingQuery;

#[Object]
impl MatchingQuery {
    /// The models that run on a device, ranked; with `explain`, the rejected ones and why. `device`
    /// may also name a board type (IRI or catalog name): "what runs on this board?", judged on
    /// its datasheet figures with nothing reserved.
    #[graphql(complexity = "COMPLEXITY_PER_DEVICE + child_complexity")]
    async fn compatible_models(
        &self,
        ctx: &Context<'_>,
        device: String,
        #[graphql(default = false)] explain: bool,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<MatchReport> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let key = expand(&device);
        // What each latency figure assumes is half a dozen strings a model: made only for a
        // selection that reads it (in a fragment, under an alias, or skipped, it counts).
        let detail = matching::Detail {
            latency_assumptions: ctx.look_ahead().field("compatible").field("latencyAssumption").exists(),
        };
        // Ranking one device is a fraction of a millisecond, about what handing it to the blocking
        // pool and back costs; explaining every rejection is several, and goes there.
        let report = if explain {
            off_the_workers(move || matching::match_device_with(&fleet, &key, &opts, true, detail)).await?
        } else {
            matching::match_device_with(&fleet, &key, &opts, false, detail)
        }
        .ok_or_else(|| bad_input(format!("no device or board {device:?}")))?;
        Ok(MatchReport {
            device: report.device,
            board: report.board,
            free_ram_bytes: report.free_ram.map(Long),
            free_flash_bytes: report.free_flash.map(Long),
            compatible_models: Compatibles::new(report.compatible, &ctx.field()),
            rejected: report.rejected.map(|list| {
                list.into_iter()
                    .map(|r| RejectedModel {
                        model: r.model,
                        name: r.name,
                        reasons: r
                            .reasons
                            .into_iter()
                            .map(|x| Reason {
                                constraint: x.constraint.as_str().into(),
                                required: x.required,
                                available: x.available,
                                unit: x.unit,
                                message: x.message,
                            })
                            .collect(),
                    })
                    .collect()
            }),
        })
    }

    /// The devices a model runs on.
    #[graphql(complexity = "COMPLEXITY_PER_MODEL + child_complexity")]
    async fn compatible_devices(
        &self,
        ctx: &Context<'_>,
        model: String,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<Vec<DeviceMatch>> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let key = expand(&model);
        let list = off_the_workers(move || matching::compatible_devices(&fleet, &key, &opts))
            .await?
            .ok_or_else(|| bad_input(format!("no model {model:?}")))?;
        Ok(list
            .into_iter()
            .map(|d| DeviceMatch {
                device: d.device,
                short_name: d.short_name,
                fit: compatible_model(d.fit),
            })
            .collect())
    }

    /// A window of the compatibility matrix for people: rows of boards (each counting its
    /// devices per verdict) or of devices (of one `board` when given), by a window of models.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "COMPLEXITY_FLEET_MATRIX + child_complexity")]
    async fn compatibility_matrix(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "MatrixRows::Boards")] rows: MatrixRows,
        board: Option<String>,
        #[graphql(default = 0)] row_offset: i32,
        #[graphql(default = 100)] row_limit: i32,
        #[graphql(default = 0)] model_offset: i32,
        #[graphql(default = 50)] model_limit: i32,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<CompatibilityMatrix> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let row_window = window(row_offset, row_limit, 500, "row")?;
        let model_window = window(model_offset, model_limit, 200, "model")?;
        let kind = match rows {
            MatrixRows::Boards => matching::grid::GridRows::Boards,
            MatrixRows::Devices => matching::grid::GridRows::Devices {
                board: board.as_deref().map(expand).filter(|b| !b.is_empty()),
            },
        };
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let grid =
            off_the_workers(move || matching::grid::grid(&fleet, &opts, &kind, row_window, model_window)).await?;
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(CompatibilityMatrix {
            total_rows: clamp_i32(grid.total_rows),
            total_models: clamp_i32(grid.total_models),
            models: grid
                .models
                .into_iter()
                .map(|m| MatrixModel {
                    model: m.iri,
                    name: m.name,
                })
                .collect(),
            rows: grid
                .rows
                .into_iter()
                .map(|r| MatrixRow {
                    key: r.key,
                    label: r.label,
                    board: r.board,
                    devices: count(r.devices),
                    cells: r
                        .cells
                        .into_iter()
                        .map(|c| MatrixCount {
                            as_is: count(c.as_is),
                            int8: count(c.int8),
                            no: count(c.no),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Every compatible (device, model) pair.
    #[graphql(complexity = "COMPLEXITY_FLEET_MATRIX + child_complexity")]
    async fn fleet_matrix(
        &self,
        ctx: &Context<'_>,
        latency_budget_ms: Option<f64>,
        headroom_pct: Option<i32>,
    ) -> Result<Vec<MatrixCell>> {
        let opts = options(latency_budget_ms, headroom_pct)?;
        let fleet = fleet(ctx.data::<FleetIndex>()?).await?;
        let matrix = off_the_workers(move || matching::fleet_matrix(&fleet, &opts)).await?;
        Ok(matrix
            .iter()
            .map(|c| MatrixCell {
                device: c.device.to_owned(),
                model: c.model.to_owned(),
                via: via(c.via),
            })
            .collect())
    }
}
