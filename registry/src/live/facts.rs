//! The graph facts a live device contributes, written inside one transaction each.
//!
//! Each writer replaces the values of the properties it owns (status, last seen, what the device
//! reported, its LwM2M-announced sensors) and leaves everything else alone: a device the catalog
//! already describes keeps its location, runtime and catalog sensors when it comes online.

use oxigraph::model::vocab::{rdf, rdfs};
use oxigraph::model::{GraphName, Literal, NamedNode, Quad, Term};
use oxsdatatypes::DateTime;

use seam_lwm2m::server::{AnnouncedSensor, DeliveryStep, DeviceReport};

use crate::store::Draft;
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
    NamedNode::new_unchecked(format!("{DEVICE}{}", crate::iri::encode_segment(endpoint)))
}

fn now() -> Literal {
    Literal::from(DateTime::now())
}

fn text(value: impl Into<String>) -> Literal {
    Literal::new_simple_literal(value)
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

/// The device an endpoint name belongs to (see [`Resolved`]).
pub(crate) fn resolve_device(t: &Draft<'_>, endpoint: &str) -> Resolved {
    let name = Term::from(text(endpoint));
    let subject_with = |predicate: &str| t.subjects(&seam(predicate), &name).into_iter().next();
    if let Some(bound) = subject_with("lwm2mEndpoint") {
        return Resolved::Device(bound);
    }
    if let Some(named) = subject_with("shortName") {
        return Resolved::NotBound(named);
    }
    let iri = device_iri(endpoint);
    if t.has(&iri, &rdf::TYPE.into_owned(), None) {
        return Resolved::NotBound(iri);
    }
    Resolved::Device(iri)
}

/// A device registered or updated: online, seen now, with the sensors its registration announces.
pub(crate) fn online(
    t: &mut Draft<'_>,
    device: &NamedNode,
    endpoint: &str,
    version: &str,
    sensors: &[AnnouncedSensor],
) {
    // Added only when missing: a check-in's change set holds what changed, nothing else.
    if !t.has(device, &rdf::TYPE.into_owned(), Some(&seam("Device").into())) {
        t.add(device, &rdf::TYPE.into_owned(), seam("Device"));
    }
    if !t.has(device, &seam("shortName"), None) {
        t.add(device, &seam("shortName"), text(endpoint));
    }
    t.set(device, &seam("lwm2mEndpoint"), text(endpoint));
    t.set(device, &seam("lwm2mVersion"), text(version));
    t.set(device, &seam("status"), seam("Online"));
    t.set(device, &seam("lastSeen"), now());
    let flag = seam("flag");
    if !t.has(device, &seam("board"), None)
        && !t.has(device, &flag, Some(&seam("UnknownBoard").into()))
        && !t.has(device, &flag, Some(&seam("NotDescribed").into()))
    {
        t.add(device, &flag, seam("NotDescribed"));
    }

    // Sensors this service created from a registration live under the device's IRI; they are
    // replaced wholesale (catalog sensors are not touched), unless the registration announces
    // exactly what is there, as every Update without a payload does.
    let prefix = format!("{}/sensor/", device.as_str());
    let has_sensor = seam("hasSensor");
    let mut old: Vec<Quad> = Vec::new();
    for o in t.objects(device, &has_sensor) {
        let Term::NamedNode(sensor) = o else { continue };
        if !sensor.as_str().starts_with(&prefix) {
            continue;
        }
        let subject = sensor.clone().into();
        old.extend(t.quads(crate::store::QuadPattern {
            subject: Some(&subject),
            graph: Some(&GraphName::DefaultGraph),
            ..Default::default()
        }));
        old.push(Quad::new(
            device.clone(),
            has_sensor.clone(),
            sensor,
            GraphName::DefaultGraph,
        ));
    }
    let mut announced: Vec<Quad> = Vec::new();
    for &AnnouncedSensor { object, instance, kind } in sensors {
        let kind = kind.name();
        let sensor = NamedNode::new_unchecked(format!("{prefix}{object}-{instance}"));
        let mut about = |predicate: NamedNode, value: Term| {
            announced.push(Quad::new(sensor.clone(), predicate, value, GraphName::DefaultGraph));
        };
        about(rdf::TYPE.into_owned(), seam("Sensor").into());
        about(seam("sensorKind"), seam(kind).into());
        about(seam("ipsoObject"), Literal::from(i64::from(object)).into());
        about(
            rdfs::LABEL.into_owned(),
            text(format!("IPSO {object}/{instance} ({kind})")).into(),
        );
        announced.push(Quad::new(
            device.clone(),
            has_sensor.clone(),
            sensor,
            GraphName::DefaultGraph,
        ));
    }
    let same = old.len() == announced.len()
        && old.iter().collect::<std::collections::HashSet<_>>() == announced.iter().collect();
    if same {
        return;
    }
    for quad in &old {
        t.remove(quad);
    }
    for quad in announced {
        t.insert(quad);
    }
}

/// A device de-registered or expired: offline, with its history kept.
pub(crate) fn offline(t: &mut Draft<'_>, device: &NamedNode) {
    t.set(device, &seam("status"), seam("Offline"));
    t.set(device, &seam("lastSeen"), now());
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
pub(crate) fn reconcile_after_start(t: &mut Draft<'_>, instance: Option<&NamedNode>) -> Reconciled {
    let mut out = Reconciled::default();
    let status = seam("status");
    // Among several services on one store, each recovers only what it served (or what no
    // service claimed): the others' devices are online with them, their deliveries in flight.
    let served_by = seam("servedBy");
    let ours = |t: &Draft<'_>, subject: &NamedNode| match instance {
        None => true,
        Some(me) => {
            let claims = t.objects(subject, &served_by);
            claims.is_empty() || claims.iter().any(|c| *c == Term::NamedNode(me.clone()))
        }
    };
    for device in t.subjects(&status, &seam("Online").into()) {
        if !ours(t, &device) {
            continue;
        }
        t.set(&device, &status, seam("Offline"));
        out.devices_offline += 1;
    }
    let ended = prov("endedAtTime");
    for deployment in t.subjects(&rdf::TYPE.into_owned(), &seam("Deployment").into()) {
        if t.has(&deployment, &ended, None) || !ours(t, &deployment) {
            continue;
        }
        let last = t
            .objects(&deployment, &seam("result"))
            .into_iter()
            .find_map(|o| match o {
                Term::Literal(l) => Some(l.value().to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "started".to_owned());
        t.set(
            &deployment,
            &seam("result"),
            text(format!("interrupted: the service stopped during step {last:?}")),
        );
        t.add(&deployment, &ended, now());
        out.deliveries_interrupted += 1;
    }
    out
}

/// A device described by its Object 3: the reported facts, its board if the catalog knows it,
/// or the unknown-board flag if not.
pub(crate) fn described(t: &mut Draft<'_>, device: &NamedNode, report: &DeviceReport, board: Option<&NamedNode>) {
    for (p, v) in [
        ("reportedManufacturer", &report.manufacturer),
        ("reportedModelNumber", &report.model_number),
        ("serialNumber", &report.serial_number),
        ("firmwareVersion", &report.firmware_version),
    ] {
        if let Some(v) = v {
            t.set(device, &seam(p), text(v));
        }
    }
    if let Some(free) = report.memory_free_bytes.filter(|v| *v >= 0) {
        t.set(device, &seam("freeFlashBytes"), Literal::from(free));
    }
    if let Some(total) = report.memory_total_bytes.filter(|v| *v >= 0) {
        t.set(device, &seam("reportedMemoryTotalBytes"), Literal::from(total));
    }
    let flag = seam("flag");
    t.remove(&Quad::new(
        device.clone(),
        flag.clone(),
        seam("NotDescribed"),
        GraphName::DefaultGraph,
    ));
    match board {
        Some(board) => {
            t.set(device, &seam("board"), board.clone());
            t.remove(&Quad::new(
                device.clone(),
                flag,
                seam("UnknownBoard"),
                GraphName::DefaultGraph,
            ));
        }
        None => t.add(device, &flag, seam("UnknownBoard")),
    }
}

/// A deployment begins: a `seam:Deployment` (a `prov:Activity`) that used the artifact and
/// targets the device.
pub(crate) fn deployment_started(
    t: &mut Draft<'_>,
    deployment: &NamedNode,
    device: &NamedNode,
    sha256: &str,
    method: &str,
    object: u16,
) {
    let artifact = crate::iri::artifact(sha256);
    // An artifact delivered before is described already: the change set stays the delivery's.
    if !t.has(&artifact, &rdf::TYPE.into_owned(), Some(&seam("Artifact").into())) {
        t.add(&artifact, &rdf::TYPE.into_owned(), seam("Artifact"));
    }
    t.set(&artifact, &seam("sha256"), text(sha256));
    t.add(deployment, &rdf::TYPE.into_owned(), seam("Deployment"));
    t.add(deployment, &prov("used"), artifact);
    t.add(deployment, &seam("target"), device.clone());
    t.add(deployment, &prov("startedAtTime"), now());
    t.add(deployment, &seam("deliveryMethod"), text(method));
    t.add(deployment, &seam("lwm2mObject"), Literal::from(i64::from(object)));
    t.set(deployment, &seam("result"), text("started"));
}

/// A deployment moved on to `step` (with the device's Update Result, when known).
pub(crate) fn deployment_step(
    t: &mut Draft<'_>,
    deployment: &NamedNode,
    step: DeliveryStep,
    result: Option<i64>,
    detail: &str,
) {
    let line = if detail.is_empty() {
        step.as_str().to_owned()
    } else {
        format!("{step}: {detail}")
    };
    t.set(deployment, &seam("result"), text(line));
    if let Some(code) = result {
        t.set(deployment, &seam("updateResult"), Literal::from(code));
    }
}

/// A deployment ended; on success the device now runs the artifact.
pub(crate) fn deployment_ended(
    t: &mut Draft<'_>,
    deployment: &NamedNode,
    device: &NamedNode,
    sha256: &str,
    installed: bool,
) {
    t.add(deployment, &prov("endedAtTime"), now());
    if installed {
        t.set(device, &seam("runs"), crate::iri::artifact(sha256));
    }
}

#[cfg(test)]
mod tests {
    use seam_lwm2m::server::SensorKind;

    use super::*;
    use crate::graph::Registry;

    fn registry() -> Registry {
        let r = Registry::in_memory().unwrap();
        r.seed_if_empty().unwrap();
        r
    }

    fn ask(r: &Registry, sparql: &str) -> bool {
        matches!(
            r.query(sparql, &crate::QueryLimits::default()).unwrap(),
            crate::QueryAnswer::Boolean(true)
        )
    }

    fn mic() -> AnnouncedSensor {
        AnnouncedSensor {
            object: 3324,
            instance: 0,
            kind: SensorKind::Microphone,
        }
    }

    #[test]
    fn a_new_endpoint_becomes_an_online_device_with_its_announced_sensors() {
        let r = registry();
        let device = r
            .change(|t| match resolve_device(t, "node 1") {
                Resolved::Device(d) => {
                    online(t, &d, "node 1", "1.1", &[mic()]);
                    d
                }
                Resolved::NotBound(d) => panic!("{d} should be new"),
            })
            .unwrap();
        assert_eq!(device.as_str(), "https://w3id.org/seam/device/node%201");
        assert!(ask(
            &r,
            "ASK { <https://w3id.org/seam/device/node%201> a seam:Device ; seam:status seam:Online ;
                   seam:shortName \"node 1\" ; seam:flag seam:NotDescribed ;
                   seam:hasSensor [ seam:sensorKind seam:microphone ; seam:ipsoObject 3324 ] }"
        ));
        // Registering again replaces the announced sensors instead of adding to them.
        r.change(|t| online(t, &device, "node 1", "1.1", &[])).unwrap();
        assert!(!ask(
            &r,
            "ASK { <https://w3id.org/seam/device/node%201> seam:hasSensor ?s }"
        ));
    }

    #[test]
    fn an_update_announcing_the_same_sensors_writes_only_the_devices_state() {
        let r = registry();
        let device = device_iri("node 2");
        r.change(|t| online(t, &device, "node 2", "1.1", &[mic()])).unwrap();
        let (written, described) = (r.version(), r.facts_version());
        r.change(|t| online(t, &device, "node 2", "1.1", &[mic()])).unwrap();
        assert!(r.version() > written, "lastSeen is written");
        assert_eq!(r.facts_version(), described);
        // Another sensor announced: a description, the sensors replaced.
        let accelerometer = AnnouncedSensor {
            object: 3313,
            instance: 0,
            kind: SensorKind::Accelerometer,
        };
        r.change(|t| online(t, &device, "node 2", "1.1", &[accelerometer]))
            .unwrap();
        assert_ne!(r.facts_version(), described);
        assert!(ask(
            &r,
            "ASK { <https://w3id.org/seam/device/node%202> seam:hasSensor [ seam:sensorKind seam:accelerometer ; seam:ipsoObject 3313 ]
                   FILTER NOT EXISTS { <https://w3id.org/seam/device/node%202> seam:hasSensor/seam:sensorKind seam:microphone } }"
        ));
    }

    #[test]
    fn a_registration_never_takes_over_a_catalog_device_it_did_not_create() {
        let r = registry();
        // The catalog's devices are bound to their endpoint names: they are taken as they are.
        let bound = r.change(|t| resolve_device(t, "line3-acoustic-02")).unwrap();
        assert!(matches!(bound, Resolved::Device(_)));
        // A device known by short name but not bound to LwM2M is refused.
        r.update("DELETE WHERE { dev:dock-camera-01 seam:lwm2mEndpoint ?e }")
            .unwrap();
        let unbound = r.change(|t| resolve_device(t, "dock-camera-01")).unwrap();
        assert!(matches!(unbound, Resolved::NotBound(_)));
    }

    #[test]
    fn a_report_sets_the_board_or_flags_it_unknown() {
        let r = registry();
        let device = device_iri("sim-7");
        r.change(|t| online(t, &device, "sim-7", "1.1", &[])).unwrap();
        let report = DeviceReport {
            model_number: Some("NOPE-1".into()),
            memory_free_bytes: Some(65_536),
            ..DeviceReport::default()
        };
        r.change(|t| described(t, &device, &report, None)).unwrap();
        assert!(ask(
            &r,
            "ASK { dev:sim-7 seam:flag seam:UnknownBoard ; seam:reportedModelNumber \"NOPE-1\" ; seam:freeFlashBytes 65536
                   FILTER NOT EXISTS { dev:sim-7 seam:flag seam:NotDescribed } }"
        ));
        let board = NamedNode::new_unchecked(format!("{}st-b-l475e-iot01a", crate::vocab::CATALOG));
        r.change(|t| described(t, &device, &report, Some(&board))).unwrap();
        assert!(ask(
            &r,
            "ASK { dev:sim-7 seam:board cat:st-b-l475e-iot01a FILTER NOT EXISTS { dev:sim-7 seam:flag ?f } }"
        ));
    }

    #[test]
    fn after_a_restart_nothing_is_online_and_nothing_is_in_flight() {
        let r = registry();
        let device = device_iri("sim-8");
        let deployment = crate::iri::deployment("sim-8-x");
        r.change(|t| {
            online(t, &device, "sim-8", "1.1", &[]);
            deployment_started(t, &deployment, &device, "ab", "pull", 9);
            deployment_step(t, &deployment, DeliveryStep::Downloading, None, "");
        })
        .unwrap();
        let reconciled = r.change(|t| reconcile_after_start(t, None)).unwrap();
        assert_eq!(reconciled.deliveries_interrupted, 1);
        assert!(reconciled.devices_offline >= 1);
        assert!(ask(
            &r,
            "ASK { dev:sim-8 seam:status seam:Offline .
                   ?d seam:target dev:sim-8 ; prov:endedAtTime ?t ; seam:result ?res
                   FILTER(STRSTARTS(?res, \"interrupted\") && CONTAINS(?res, \"downloading\")) }"
        ));
        // A second start finds nothing to correct.
        assert_eq!(
            r.change(|t| reconcile_after_start(t, None)).unwrap(),
            Reconciled::default()
        );
    }
}
