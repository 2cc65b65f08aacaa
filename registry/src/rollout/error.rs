//! Why a rollout could not be started or changed.

/// Why a rollout could not be started or changed; nothing was started or changed.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The spec breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No model of that IRI.
    #[error("no model {0:?} in the graph")]
    UnknownModel(String),
    /// The graph describes the model but SEAM holds no file for it.
    #[error("the model {0} has no file in this registry (register it from its ONNX or TFLite file first: seam load FILE, or POST /models); a model without a file cannot be compiled")]
    NoModelFile(String),
    /// Devices named that the graph does not know.
    #[error("unknown devices: {}", listed(.0.iter()))]
    UnknownDevices(Vec<String>),
    /// The selection query failed or is not a SELECT.
    #[error(transparent)]
    Selection(#[from] crate::selection::SelectionError),
    /// The selection names a named query that does not exist, or its parameters are wrong.
    #[error("{0}")]
    NamedQuery(String),
    /// The selection picks no device.
    #[error("the selection picks no device")]
    NoDevices,
    /// The model runs on none of the devices; why, device by device.
    #[error("the model runs on none of the {} selected devices: {}", .0.len(), listed(.0.iter().map(|(d, r)| format!("{d}: {r}"))))]
    RunsNowhere(Vec<(String, String)>),
    /// Devices already in an active rollout.
    #[error("already in an active rollout: {}", listed(.0.iter().map(|(d, r)| format!("{d} (rollout {r})"))))]
    Busy(Vec<(String, String)>),
    /// No rollout of that id.
    #[error("no rollout {0:?}")]
    NotFound(String),
    /// The rollout is not in a state that allows the action.
    #[error("rollout {id} is {state}: {action} is not possible")]
    WrongState {
        /// The rollout.
        id: String,
        /// Its state.
        state: &'static str,
        /// What was asked.
        action: &'static str,
    },
    /// The service runs no LwM2M server.
    #[error("this service was started without its LwM2M server: nothing can be delivered")]
    NoLwm2m,
    /// The graph could not be read or written.
    #[error("the graph: {0}")]
    Graph(String),
}

/// The first twenty items, and how many more: an error names what is wrong without becoming
/// as long as a hostile request.
fn listed<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    const SHOWN: usize = 20;
    let total = items.len();
    let mut text = items.take(SHOWN).map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
    if total > SHOWN {
        text.push_str(&format!("; … and {} more", total - SHOWN));
    }
    text
}

impl RolloutError {
    /// Whether the request was at fault (as opposed to the service).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Graph(_) | Self::NoLwm2m)
    }
}
