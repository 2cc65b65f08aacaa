//! Model delivery: Object 9 (Software Management) when the client has it, else Object 5
//! (Firmware Update); by Package URI (the client pulls `/pkg/<sha256>` block-wise) or by
//! writing the Package resource (Block1 push). The server observes the state resources and
//! reports every transition as it happens.

use super::{Lwm2mServer, Observation};
use crate::coap::content_format as cf;
use crate::content::{ResourcePath, Value};
use crate::Lwm2mError;

/// Object 9 resources (LwM2M Software Management, OMA object 9).
pub mod object9 {
    /// Package (opaque, W).
    pub const PACKAGE: u16 = 2;
    /// Package URI (string, W).
    pub const PACKAGE_URI: u16 = 3;
    /// Install (E).
    pub const INSTALL: u16 = 4;
    /// Update State: 0 INITIAL, 1 DOWNLOAD STARTED, 2 DOWNLOADED, 3 DELIVERED, 4 INSTALLED.
    pub const UPDATE_STATE: u16 = 7;
    /// Update Result: 0 initial, 1 downloading, 2 installed, 3 downloaded and verified, 50+ errors.
    pub const UPDATE_RESULT: u16 = 9;
    /// State DELIVERED: downloaded and verified, ready to install.
    pub const STATE_DELIVERED: i64 = 3;
    /// State INSTALLED.
    pub const STATE_INSTALLED: i64 = 4;
    /// Result: installed successfully.
    pub const RESULT_INSTALLED: i64 = 2;
    /// First error result (50 not enough storage … 59 uninstallation failure).
    pub const FIRST_ERROR: i64 = 50;
}

/// Object 5 resources (LwM2M Firmware Update, OMA object 5).
pub mod object5 {
    /// Package (opaque, W).
    pub const PACKAGE: u16 = 0;
    /// Package URI (string, RW).
    pub const PACKAGE_URI: u16 = 1;
    /// Update (E).
    pub const UPDATE: u16 = 2;
    /// State: 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating.
    pub const STATE: u16 = 3;
    /// Update Result: 0 initial, 1 success, 2..=9 errors.
    pub const UPDATE_RESULT: u16 = 5;
    /// State Idle.
    pub const STATE_IDLE: i64 = 0;
    /// State Downloaded.
    pub const STATE_DOWNLOADED: i64 = 2;
    /// Result: firmware updated successfully.
    pub const RESULT_SUCCESS: i64 = 1;
    /// Firmware Update Delivery Method (integer, R): 0 pull only, 1 push only, 2 both.
    pub const DELIVERY_METHOD: u16 = 9;
}

/// A state's name, for what a timeout says the device last reported.
fn state_name(object: u16, state: i64) -> &'static str {
    match (object, state) {
        (9, 0) => "initial",
        (9, 1) => "download started",
        (9, 2) => "downloaded",
        (9, 3) => "delivered",
        (9, 4) => "installed",
        (5, 0) => "idle",
        (5, 1) => "downloading",
        (5, 2) => "downloaded",
        (5, 3) => "updating",
        _ => "unknown",
    }
}

/// How the package reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethod {
    /// Write the Package URI; the device downloads `/pkg/<sha256>` block-wise.
    Pull,
    /// Write the package into the Package resource (Block1).
    Push,
}

/// One delivery to carry out.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Endpoint name of the device.
    pub endpoint: String,
    /// SHA-256 of a package on the server's shelf.
    pub sha256: String,
    /// Pull or push.
    pub method: DeliveryMethod,
}

/// Numbers deliveries within the process.
static NEXT_DELIVERY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStep {
    /// Begun: reported before the first exchange with the device.
    Started,
    /// The device was told where to download the package (pull) or is being sent it (push).
    Downloading,
    /// The device has the whole package and checked it.
    Delivered,
    /// Install was executed; the device is installing.
    Installing,
    /// The device reports the package installed (the end).
    Installed,
    /// The delivery failed (the end); the progress says why.
    Failed,
}

impl DeliveryStep {
    /// Its name, as the graph records it (`seam:result`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Downloading => "downloading",
            Self::Delivered => "delivered",
            Self::Installing => "installing",
            Self::Installed => "installed",
            Self::Failed => "failed",
        }
    }

    /// Whether the delivery ended with this step.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Installed | Self::Failed)
    }
}

impl std::fmt::Display for DeliveryStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step of a delivery, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryProgress {
    /// This delivery, unique in the process: two deliveries of one package to one device are
    /// two deliveries.
    pub id: u64,
    /// Endpoint name of the device.
    pub endpoint: String,
    /// The package.
    pub sha256: String,
    /// The object used (9 or 5).
    pub object: u16,
    /// Pull or push.
    pub method: DeliveryMethod,
    /// What happened.
    pub step: DeliveryStep,
    /// The device's Update Result, where it reported one.
    pub result: Option<i64>,
    /// A human-readable detail (failure reason).
    pub detail: String,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOutcome {
    /// Whether the device reports the package installed.
    pub installed: bool,
    /// The object used (9 or 5).
    pub object: u16,
    /// The device's final Update Result.
    pub result: Option<i64>,
    /// Why it failed, when it did.
    pub detail: String,
}

/// What a device publishes of its package slot (Object 9, else Object 5): the name of the
/// package it holds (a SEAM device names it by its SHA-256: `/9/0/0` PkgName, `/5/0/6`
/// PkgName), the state and the Update Result. Read after a restart, it says whether a delivery
/// the server lost sight of ended with the package installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSlot {
    /// The object read (9 or 5).
    pub object: u16,
    /// The package name the device publishes.
    pub name: Option<String>,
    /// Update State (9) or State (5).
    pub state: Option<i64>,
    /// Update Result.
    pub result: Option<i64>,
}

impl PackageSlot {
    /// Whether the device reports the package with digest `sha256` installed.
    pub fn holds_installed(&self, sha256: &str) -> bool {
        let named = self.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(sha256));
        let installed = if self.object == 9 {
            self.state == Some(object9::STATE_INSTALLED) || self.result == Some(object9::RESULT_INSTALLED)
        } else {
            self.result == Some(object5::RESULT_SUCCESS)
        };
        named && installed
    }

    /// What the device says, for a person.
    pub fn describe(&self) -> String {
        format!(
            "Object {} reports package {}, state {} ({}), result {}",
            self.object,
            self.name.as_deref().filter(|n| !n.is_empty()).unwrap_or("(none)"),
            self.state.map_or("none".to_owned(), |s| s.to_string()),
            self.state.map_or("unknown", |s| state_name(self.object, s)),
            self.result.map_or("none".to_owned(), |r| r.to_string()),
        )
    }
}

impl Lwm2mServer {
    /// Delivers a package from the shelf to a registered device and installs it, reporting each
    /// step as a [`super::ServerEvent::Delivery`].
    pub async fn deliver(&self, delivery: &Delivery) -> Result<DeliveryOutcome, Lwm2mError> {
        let registration = self
            .registration(&delivery.endpoint)
            .ok_or_else(|| Lwm2mError::UnknownEndpoint(delivery.endpoint.clone()))?;
        let object = if registration.has_object(9) {
            9
        } else if registration.has_object(5) {
            5
        } else {
            return Err(Lwm2mError::Refused {
                code: "-".into(),
                reason: "the device offers neither Object 9 (Software Management) nor Object 5 (Firmware Update)"
                    .into(),
            });
        };
        let id = NEXT_DELIVERY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Reported before the first exchange, so that a delivery that fails at once is recorded
        // as one that started and failed, not missing.
        self.step(delivery, id, object, DeliveryStep::Started, None, "");
        let timeout = self.config().delivery_timeout;
        let mut status = Status::default();
        let run = tokio::time::timeout(timeout, self.run_delivery(delivery, id, object, &mut status)).await;
        let outcome = match run {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => DeliveryOutcome {
                installed: false,
                object,
                result: None,
                detail: e.to_string(),
            },
            Err(_) => DeliveryOutcome {
                installed: false,
                object,
                result: status.result,
                detail: match status.state {
                    Some(state) => format!(
                        "no result within {} s: the device last reported state {state} ({}), result {}",
                        timeout.as_secs(),
                        state_name(object, state),
                        status.result.map_or("none".to_owned(), |r| r.to_string())
                    ),
                    None => format!(
                        "no result within {} s: the device reported no state since the delivery began",
                        timeout.as_secs()
                    ),
                },
            },
        };
        self.step(
            delivery,
            id,
            object,
            if outcome.installed {
                DeliveryStep::Installed
            } else {
                DeliveryStep::Failed
            },
            outcome.result,
            &outcome.detail,
        );
        Ok(outcome)
    }

    /// Reads a registered device's package slot (see [`PackageSlot`]).
    pub async fn read_package_slot(&self, name: &str) -> Result<PackageSlot, Lwm2mError> {
        let registration = self
            .registration(name)
            .ok_or_else(|| Lwm2mError::UnknownEndpoint(name.to_owned()))?;
        let (object, resources) = if registration.has_object(9) {
            (9, [0, object9::UPDATE_STATE, object9::UPDATE_RESULT])
        } else {
            (5, [6, object5::STATE, object5::UPDATE_RESULT])
        };
        let values = self
            .read_instance(name, ResourcePath::instance(object, 0), &resources)
            .await?;
        let value = |id: u16| values.iter().find(|(p, _)| p.resource == Some(id)).map(|(_, v)| v);
        Ok(PackageSlot {
            object,
            name: value(resources[0]).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            }),
            state: value(resources[1]).and_then(Value::as_i64),
            result: value(resources[2]).and_then(Value::as_i64),
        })
    }

    fn step(&self, delivery: &Delivery, id: u64, object: u16, step: DeliveryStep, result: Option<i64>, detail: &str) {
        self.report(DeliveryProgress {
            id,
            endpoint: delivery.endpoint.clone(),
            sha256: delivery.sha256.clone(),
            object,
            method: delivery.method,
            step,
            result,
            detail: detail.to_owned(),
        });
    }

    async fn run_delivery(
        &self,
        delivery: &Delivery,
        id: u64,
        object: u16,
        status: &mut Status,
    ) -> Result<DeliveryOutcome, Lwm2mError> {
        let name = delivery.endpoint.as_str();
        let instance = ResourcePath::instance(object, 0);
        let (package, uri, state, result, execute) = if object == 9 {
            use object9::*;
            (PACKAGE, PACKAGE_URI, UPDATE_STATE, UPDATE_RESULT, INSTALL)
        } else {
            use object5::*;
            (PACKAGE, PACKAGE_URI, STATE, UPDATE_RESULT, UPDATE)
        };
        // Clients that cannot observe an object instance (some 1.0 clients observe resources
        // only) are polled instead.
        let mut watch = match crate::again_on_timeout(|| self.observe(name, instance)).await {
            Ok(watch) => Some(watch),
            Err(Lwm2mError::Refused { code, .. }) => {
                tracing::debug!(endpoint = name, %code, "observe refused; polling the update state");
                None
            }
            Err(e) => return Err(e),
        };
        // What the device reported before this delivery (a previous failure, a package still
        // staged) says nothing about this one: only notifications after the write count.
        // Object 5 says how it takes packages (/5/0/9): a push-only device is never sent a
        // Package URI, a pull-only one never a package.
        let method = if object == 5 {
            let target = ResourcePath::resource(5, 0, object5::DELIVERY_METHOD);
            match crate::again_on_timeout(|| self.read(name, target, None)).await {
                Ok(values) => match values.first().and_then(|(_, v)| v.as_i64()) {
                    Some(0) => DeliveryMethod::Pull,
                    Some(1) => DeliveryMethod::Push,
                    _ => delivery.method,
                },
                // Optional in LwM2M 1.0 clients: without it, what was asked.
                Err(_) => delivery.method,
            }
        } else {
            delivery.method
        };
        if method != delivery.method {
            tracing::info!(
                endpoint = name,
                ?method,
                "the device's Delivery Method (/5/0/9) decides how the package goes"
            );
        }
        let owned = Delivery {
            method,
            ..delivery.clone()
        };
        let delivery = &owned;

        let sent = match delivery.method {
            DeliveryMethod::Pull => {
                let link = self.package_uri_for(name, &delivery.sha256)?;
                let target = ResourcePath::resource(object, 0, uri);
                crate::again_on_timeout(|| self.write(name, target, cf::TEXT, link.clone().into_bytes())).await
            }
            DeliveryMethod::Push => {
                let bytes = self
                    .shelf()
                    .get(&delivery.sha256)
                    .ok_or_else(|| Lwm2mError::Malformed(format!("no package {} on the shelf", delivery.sha256)))?;
                let target = ResourcePath::resource(object, 0, package);
                crate::again_on_timeout(|| self.write(name, target, cf::OPAQUE, bytes.to_vec())).await
            }
        };
        if let Err(e) = sent {
            self.cancel_watch(&watch);
            return Err(e);
        }
        self.step(delivery, id, object, DeliveryStep::Downloading, None, "");

        // Wait for the device to hold a verified package.
        let ready = |s: &Status| {
            if object == 9 {
                s.state == Some(object9::STATE_DELIVERED)
            } else {
                s.state == Some(object5::STATE_DOWNLOADED)
            }
        };
        if let Some(outcome) = self
            .await_status(name, &mut watch, status, object, state, result, ready)
            .await
        {
            self.cancel_watch(&watch);
            return Ok(outcome);
        }
        if delivery.method == DeliveryMethod::Push {
            // A pushed package has no address to check against on the device; it publishes the
            // digest of what it received as the package name, and the server compares.
            let name_resource = if object == 9 { 0 } else { 6 };
            let target = ResourcePath::resource(object, 0, name_resource);
            let reported = crate::again_on_timeout(|| self.read(name, target, None)).await?;
            let digest = reported.first().and_then(|(_, v)| v.as_text()).unwrap_or_default();
            if !digest.eq_ignore_ascii_case(&delivery.sha256) {
                self.cancel_watch(&watch);
                return Ok(DeliveryOutcome {
                    installed: false,
                    object,
                    result: None,
                    detail: format!(
                        "the device received a package with SHA-256 {digest}, not {}",
                        delivery.sha256
                    ),
                });
            }
        }
        self.step(delivery, id, object, DeliveryStep::Delivered, status.result, "");

        // Execute is not idempotent, so it is not retried. If its answer is lost (or a duplicate
        // arrives after the install consumed the package), the device's state still tells.
        let executed = self.execute(name, ResourcePath::resource(object, 0, execute), "").await;
        self.step(delivery, id, object, DeliveryStep::Installing, status.result, "");
        let done = |s: &Status| {
            if object == 9 {
                s.state == Some(object9::STATE_INSTALLED) && s.result == Some(object9::RESULT_INSTALLED)
            } else {
                s.state == Some(object5::STATE_IDLE) && s.result == Some(object5::RESULT_SUCCESS)
            }
        };
        let waited = match executed {
            Ok(()) => {
                self.await_status(name, &mut watch, status, object, state, result, done)
                    .await
            }
            Err(e) => {
                let grace = self.config().params.response_timeout * 2;
                let waited = self.await_status(name, &mut watch, status, object, state, result, done);
                match tokio::time::timeout(grace, waited).await {
                    Ok(waited) => waited,
                    Err(_) => {
                        self.cancel_watch(&watch);
                        return Err(e);
                    }
                }
            }
        };
        let outcome = waited.unwrap_or(DeliveryOutcome {
            installed: true,
            object,
            result: status.result,
            detail: String::new(),
        });
        self.cancel_watch(&watch);
        Ok(outcome)
    }

    /// Follows notifications until `reached` holds (→ `None`) or the device reports a failure
    /// or the observation ends (→ the failed outcome).
    #[allow(clippy::too_many_arguments)]
    async fn await_status(
        &self,
        name: &str,
        watch: &mut Option<Observation>,
        status: &mut Status,
        object: u16,
        state: u16,
        result: u16,
        reached: impl Fn(&Status) -> bool,
    ) -> Option<DeliveryOutcome> {
        loop {
            if status.fresh && reached(status) {
                return None;
            }
            if let Some(code) = status.failure(object).filter(|_| status.fresh) {
                return Some(DeliveryOutcome {
                    installed: false,
                    object,
                    result: Some(code),
                    detail: failure_text(object, code).to_owned(),
                });
            }
            // Notifications are confirmable, but one can still be lost for good on a bad link;
            // after a quiet spell the server reads the state itself. (By then the device has
            // long acted on the write, so what it reports belongs to this delivery.)
            let quiet = self.config().state_poll;
            let heard = match watch {
                Some(watch) => match tokio::time::timeout(quiet, watch.next()).await {
                    Ok(Some(values)) => Some(values),
                    Ok(None) => {
                        return Some(DeliveryOutcome {
                            installed: false,
                            object,
                            result: status.result,
                            detail: "the device stopped reporting the update state".into(),
                        })
                    }
                    Err(_) => None,
                },
                None => {
                    tokio::time::sleep(quiet).await;
                    None
                }
            };
            let values = match heard {
                Some(values) => values,
                None => self
                    .read_instance(name, ResourcePath::instance(object, 0), &[state, result])
                    .await
                    .unwrap_or_default(),
            };
            if !values.is_empty() {
                status.absorb(&values, state, result);
                status.fresh = true;
            }
        }
    }

    fn cancel_watch(&self, watch: &Option<Observation>) {
        if let Some(watch) = watch {
            self.cancel_observation(watch);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Status {
    /// Whether a notification arrived since the delivery began.
    fresh: bool,
    state: Option<i64>,
    result: Option<i64>,
}

impl Status {
    fn absorb(&mut self, values: &[(ResourcePath, Value)], state: u16, result: u16) {
        for (path, value) in values {
            if path.resource == Some(state) {
                self.state = value.as_i64().or(self.state);
            } else if path.resource == Some(result) {
                self.result = value.as_i64().or(self.result);
            }
        }
    }

    fn failure(&self, object: u16) -> Option<i64> {
        let code = self.result?;
        let failed = if object == 9 {
            code >= object9::FIRST_ERROR
        } else {
            code >= 2
        };
        failed.then_some(code)
    }
}

/// The meaning of an Update Result error code.
pub fn failure_text(object: u16, code: i64) -> &'static str {
    match (object, code) {
        (9, 50) | (5, 2) => "not enough storage for the package",
        (9, 51) | (5, 3) => "out of memory during the download",
        (9, 52) | (5, 4) => "connection lost during the download",
        (9, 53) | (5, 5) => "package integrity check failed",
        (9, 54) | (5, 6) => "unsupported package type",
        (9, 56) | (5, 7) => "invalid URI",
        (9, 57) | (5, 8) => "device-defined update error",
        (9, 58) => "software installation failure",
        (9, 59) => "uninstallation failure",
        (5, 9) => "unsupported protocol",
        _ => "update failed",
    }
}
