//! The graph facts a live device contributes, written inside one transaction each.
//!
//! Each writer replaces the values of the properties it owns (status, last seen, what the device
//! reported, its LwM2M-announced sensors) and leaves everything else alone: a device the catalog
//! already describes keeps its location, runtime and catalog sensors when it comes online.

use oxigraph::model::vocab::{rdf, rdfs};
use oxigraph::model::{GraphNameRef, Literal, NamedNode, NamedNodeRef, Quad, Term, TermRef};
use oxigraph::store::Transaction;
use oxsdatatypes::DateTime;

use crate::vocab::{DEVICE, PROV, SEAM};

pub(crate) fn seam(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{SEAM}{local}"))
}

fn prov(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{PROV}{local}"))
}

/// The IRI a newly seen endpoint gets: `dev:` + the name, percent-encoded beyond the
/// unreserved characters (an endpoint name is whatever the device chose; `urn:imei:…` is common).
pub(crate) fn device_iri(endpoint: &str) -> NamedNode {
    let mut iri = String::from(DEVICE);
    for byte in endpoint.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            iri.push(byte as char);
        } else {
            iri.push_str(&format!("%{byte:02X}"));
        }
    }
    NamedNode::new_unchecked(iri)
}

fn now() -> Literal {
    Literal::from(DateTime::now())
}

fn default_graph() -> GraphNameRef<'static> {
    GraphNameRef::DefaultGraph
}

/// Sets `subject predicate value`, removing the predicate's previous values.
fn replace(t: &mut Transaction<'_>, subject: &NamedNode, predicate: &NamedNode, value: impl Into<Term>) {
    remove_all(t, subject, predicate);
    t.insert(&Quad::new(
        subject.clone(),
        predicate.clone(),
        value.into(),
        default_graph(),
    ));
}

fn remove_all(t: &mut Transaction<'_>, subject: &NamedNode, predicate: &NamedNode) {
    let old: Vec<Quad> = t
        .quads_for_pattern(
            Some(subject.as_ref().into()),
            Some(predicate.as_ref()),
            None,
            Some(default_graph()),
        )
        .filter_map(Result::ok)
        .collect();
    for quad in &old {
        t.remove(quad);
    }
}

fn insert(t: &mut Transaction<'_>, subject: &NamedNode, predicate: NamedNodeRef<'_>, value: impl Into<Term>) {
    t.insert(&Quad::new(
        subject.clone(),
        predicate.into_owned(),
        value.into(),
        default_graph(),
    ));
}

fn has(t: &Transaction<'_>, subject: &NamedNode, predicate: &NamedNode, value: Option<TermRef<'_>>) -> bool {
    t.quads_for_pattern(
        Some(subject.as_ref().into()),
        Some(predicate.as_ref()),
        value,
        Some(default_graph()),
    )
    .next()
    .is_some()
}

/// Whose facts a registration may write.
pub(crate) enum Resolved {
    /// The device bound to the endpoint (`seam:lwm2mEndpoint`, set by an operator or by the
    /// registration that created it), or a new one this registration creates.
    Device(NamedNode),
    /// A device of that name or IRI exists but is not bound to LwM2M: until devices have
    /// credentials (DTLS), a registration never takes over what it did not create.
    NotBound(NamedNode),
}

/// The named subjects of `predicate` `object` in the default graph, in store order (lazily:
/// callers that need one take the first).
fn subjects_with<'a>(
    t: &'a Transaction<'_>,
    predicate: NamedNodeRef<'a>,
    object: TermRef<'a>,
) -> impl Iterator<Item = NamedNode> + 'a {
    t.quads_for_pattern(None, Some(predicate), Some(object), Some(default_graph()))
        .filter_map(Result::ok)
        .filter_map(|q| match q.subject {
            oxigraph::model::NamedOrBlankNode::NamedNode(n) => Some(n),
            _ => None,
        })
}

/// The device an endpoint name belongs to (see [`Resolved`]).
pub(crate) fn resolve_device(t: &Transaction<'_>, endpoint: &str) -> Resolved {
    let name = Literal::new_simple_literal(endpoint);
    let subject_with = |predicate: &str| subjects_with(t, seam(predicate).as_ref(), name.as_ref().into()).next();
    if let Some(bound) = subject_with("lwm2mEndpoint") {
        return Resolved::Device(bound);
    }
    if let Some(named) = subject_with("shortName") {
        return Resolved::NotBound(named);
    }
    let iri = device_iri(endpoint);
    if has(t, &iri, &NamedNode::new_unchecked(rdf::TYPE.as_str()), None) {
        return Resolved::NotBound(iri);
    }
    Resolved::Device(iri)
}

/// An IPSO object announced in a registration, as a sensor kind of the ontology.
pub(crate) fn ipso_sensor_kind(object: u16) -> Option<&'static str> {
    Some(match object {
        3301 => "light",
        3302 => "proximity",
        3303 => "temperature",
        3304 => "humidity",
        3313 => "accelerometer",
        3314 => "magnetometer",
        3315 => "pressure",
        3324 => "microphone",
        3330 => "distance",
        3334 => "gyroscope",
        _ => return None,
    })
}

/// A device registered or updated: online, seen now, with the sensors its registration announces.
pub(crate) fn online(
    t: &mut Transaction<'_>,
    device: &NamedNode,
    endpoint: &str,
    version: &str,
    sensors: &[(u16, u16)],
) {
    insert(t, device, rdf::TYPE, seam("Device"));
    if !has(t, device, &seam("shortName"), None) {
        insert(
            t,
            device,
            seam("shortName").as_ref(),
            Literal::new_simple_literal(endpoint),
        );
    }
    replace(t, device, &seam("lwm2mEndpoint"), Literal::new_simple_literal(endpoint));
    replace(t, device, &seam("lwm2mVersion"), Literal::new_simple_literal(version));
    replace(t, device, &seam("status"), seam("Online"));
    replace(t, device, &seam("lastSeen"), now());
    if !has(t, device, &seam("board"), None)
        && !has(t, device, &seam("flag"), Some(seam("UnknownBoard").as_ref().into()))
    {
        insert(t, device, seam("flag").as_ref(), seam("NotDescribed"));
    }

    // Sensors this service created from a registration live under the device's IRI; they are
    // replaced wholesale, catalog sensors are not touched.
    let prefix = format!("{}/sensor/", device.as_str());
    let has_sensor = seam("hasSensor");
    let old: Vec<NamedNode> = t
        .quads_for_pattern(
            Some(device.as_ref().into()),
            Some(has_sensor.as_ref()),
            None,
            Some(default_graph()),
        )
        .filter_map(Result::ok)
        .filter_map(|q| match q.object {
            Term::NamedNode(n) if n.as_str().starts_with(&prefix) => Some(n),
            _ => None,
        })
        .collect();
    for sensor in old {
        let quads: Vec<Quad> = t
            .quads_for_pattern(Some(sensor.as_ref().into()), None, None, Some(default_graph()))
            .filter_map(Result::ok)
            .collect();
        for quad in &quads {
            t.remove(quad);
        }
        t.remove(&Quad::new(device.clone(), has_sensor.clone(), sensor, default_graph()));
    }
    for (object, instance) in sensors {
        let Some(kind) = ipso_sensor_kind(*object) else {
            continue;
        };
        let sensor = NamedNode::new_unchecked(format!("{prefix}{object}-{instance}"));
        insert(t, device, has_sensor.as_ref(), sensor.clone());
        insert(t, &sensor, rdf::TYPE, seam("Sensor"));
        insert(t, &sensor, seam("sensorKind").as_ref(), seam(kind));
        insert(
            t,
            &sensor,
            seam("ipsoObject").as_ref(),
            Literal::from(i64::from(*object)),
        );
        insert(
            t,
            &sensor,
            rdfs::LABEL,
            Literal::new_simple_literal(format!("IPSO {object}/{instance} ({kind})")),
        );
    }
}

/// A device de-registered or expired: offline, with its history kept.
pub(crate) fn offline(t: &mut Transaction<'_>, device: &NamedNode) {
    replace(t, device, &seam("status"), seam("Offline"));
    replace(t, device, &seam("lastSeen"), now());
}

/// What a restart found and corrected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Devices that said Online, now Offline: no registration survives a restart.
    pub devices_offline: usize,
    /// Deliveries that had not ended, now ended as interrupted.
    pub deliveries_interrupted: usize,
}

/// Makes the graph true again after the service starts: it holds no registration and no delivery
/// in flight, so devices recorded as online are offline until they register again, and
/// deliveries that never ended are ended as interrupted, keeping their last known step.
pub(crate) fn reconcile_after_start(t: &mut Transaction<'_>) -> Reconciled {
    let mut out = Reconciled::default();
    let status = seam("status");
    let online: Vec<NamedNode> = subjects_with(t, status.as_ref(), seam("Online").as_ref().into()).collect();
    for device in online {
        replace(t, &device, &status, seam("Offline"));
        out.devices_offline += 1;
    }
    let deployments: Vec<NamedNode> = subjects_with(t, rdf::TYPE, seam("Deployment").as_ref().into()).collect();
    let ended = prov("endedAtTime");
    for deployment in deployments {
        if has(t, &deployment, &ended, None) {
            continue;
        }
        let last = t
            .quads_for_pattern(
                Some(deployment.as_ref().into()),
                Some(seam("result").as_ref()),
                None,
                Some(default_graph()),
            )
            .filter_map(Result::ok)
            .find_map(|q| match q.object {
                Term::Literal(l) => Some(l.value().to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "started".to_owned());
        replace(
            t,
            &deployment,
            &seam("result"),
            Literal::new_simple_literal(format!("interrupted: the service stopped during step {last:?}")),
        );
        insert(t, &deployment, ended.as_ref(), now());
        out.deliveries_interrupted += 1;
    }
    out
}

/// What a device said of itself in Object 3.
#[derive(Debug, Default, Clone)]
pub struct DeviceReport {
    /// /3/0/0.
    pub manufacturer: Option<String>,
    /// /3/0/1.
    pub model_number: Option<String>,
    /// /3/0/2.
    pub serial_number: Option<String>,
    /// /3/0/3.
    pub firmware_version: Option<String>,
    /// /3/0/10, in bytes.
    pub memory_free_bytes: Option<i64>,
    /// /3/0/21, in bytes.
    pub memory_total_bytes: Option<i64>,
}

/// A device described by its Object 3: the reported facts, its board if the catalog knows it,
/// or the unknown-board flag if not.
pub(crate) fn described(t: &mut Transaction<'_>, device: &NamedNode, report: &DeviceReport, board: Option<&NamedNode>) {
    let text = |t: &mut Transaction<'_>, p: &str, v: &Option<String>| {
        if let Some(v) = v {
            replace(t, device, &seam(p), Literal::new_simple_literal(v));
        }
    };
    text(t, "reportedManufacturer", &report.manufacturer);
    text(t, "reportedModelNumber", &report.model_number);
    text(t, "serialNumber", &report.serial_number);
    text(t, "firmwareVersion", &report.firmware_version);
    if let Some(free) = report.memory_free_bytes.filter(|v| *v >= 0) {
        replace(t, device, &seam("freeFlashBytes"), Literal::from(free));
    }
    if let Some(total) = report.memory_total_bytes.filter(|v| *v >= 0) {
        replace(t, device, &seam("reportedMemoryTotalBytes"), Literal::from(total));
    }
    let flag = seam("flag");
    t.remove(&Quad::new(
        device.clone(),
        flag.clone(),
        seam("NotDescribed"),
        default_graph(),
    ));
    match board {
        Some(board) => {
            replace(t, device, &seam("board"), board.clone());
            t.remove(&Quad::new(device.clone(), flag, seam("UnknownBoard"), default_graph()));
        }
        None => insert(t, device, flag.as_ref(), seam("UnknownBoard")),
    }
}

/// The IRI of the artifact with digest `sha256`.
pub(crate) fn artifact_iri(sha256: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("https://w3id.org/seam/artifact/{sha256}"))
}

/// A deployment begins: a `seam:Deployment` (a `prov:Activity`) that used the artifact and
/// targets the device.
pub(crate) fn deployment_started(
    t: &mut Transaction<'_>,
    deployment: &NamedNode,
    device: &NamedNode,
    sha256: &str,
    method: &str,
    object: u16,
) {
    let artifact = artifact_iri(sha256);
    insert(t, &artifact, rdf::TYPE, seam("Artifact"));
    replace(t, &artifact, &seam("sha256"), Literal::new_simple_literal(sha256));
    insert(t, deployment, rdf::TYPE, seam("Deployment"));
    insert(t, deployment, prov("used").as_ref(), artifact);
    insert(t, deployment, seam("target").as_ref(), device.clone());
    insert(t, deployment, prov("startedAtTime").as_ref(), now());
    insert(
        t,
        deployment,
        seam("deliveryMethod").as_ref(),
        Literal::new_simple_literal(method),
    );
    insert(
        t,
        deployment,
        seam("lwm2mObject").as_ref(),
        Literal::from(i64::from(object)),
    );
    replace(t, deployment, &seam("result"), Literal::new_simple_literal("started"));
}

/// A deployment moved on to `step` (with the device's Update Result, when known).
pub(crate) fn deployment_step(
    t: &mut Transaction<'_>,
    deployment: &NamedNode,
    step: &str,
    result: Option<i64>,
    detail: &str,
) {
    let text = if detail.is_empty() {
        step.to_owned()
    } else {
        format!("{step}: {detail}")
    };
    replace(t, deployment, &seam("result"), Literal::new_simple_literal(text));
    if let Some(code) = result {
        replace(t, deployment, &seam("updateResult"), Literal::from(code));
    }
}

/// A deployment ended; on success the device now runs the artifact.
pub(crate) fn deployment_ended(
    t: &mut Transaction<'_>,
    deployment: &NamedNode,
    device: &NamedNode,
    sha256: &str,
    installed: bool,
) {
    insert(t, deployment, prov("endedAtTime").as_ref(), now());
    if installed {
        replace(t, device, &seam("runs"), artifact_iri(sha256));
    }
}
