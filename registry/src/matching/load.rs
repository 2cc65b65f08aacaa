//! Reads the facts matching needs from the graph: a fixed handful of SELECT queries, whatever
//! the size of the fleet (never one query per device or model).

use oxigraph::model::Term;

use super::facts::{
    BoardFacts, DeviceFacts, Fleet, MeasuredThroughput, ModelFacts, OperatorClass, RuntimeFacts, SensorFacts,
    SensorRequirement,
};
use crate::answer::QueryAnswer;
use crate::error::QueryError;
use crate::graph::{QueryLimits, Registry};

type Row = Vec<Option<Term>>;

fn rows(registry: &Registry, sparql: &str) -> Result<Vec<Row>, QueryError> {
    let limits = QueryLimits {
        max_rows: usize::MAX,
        max_result_bytes: usize::MAX,
        ..QueryLimits::default()
    };
    match registry.query(sparql, &limits)? {
        QueryAnswer::Solutions { rows, .. } => Ok(rows),
        _ => Err(QueryError::Evaluation("the facts query is not a SELECT".into())),
    }
}

fn iri(row: &Row, i: usize) -> Option<String> {
    match row.get(i)?.as_ref()? {
        Term::NamedNode(n) => Some(n.as_str().to_owned()),
        Term::BlankNode(b) => Some(format!("_:{}", b.as_str())),
        Term::Literal(l) => Some(l.value().to_owned()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn text(row: &Row, i: usize) -> Option<String> {
    match row.get(i)?.as_ref()? {
        Term::Literal(l) => Some(l.value().to_owned()),
        Term::NamedNode(n) => Some(n.as_str().to_owned()),
        _ => None,
    }
}

fn int(row: &Row, i: usize) -> Option<u64> {
    match row.get(i)?.as_ref()? {
        Term::Literal(l) => l.value().trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn num(row: &Row, i: usize) -> Option<f64> {
    match row.get(i)?.as_ref()? {
        Term::Literal(l) => l.value().trim().parse::<f64>().ok(),
        _ => None,
    }
}

const SENSOR: &str = "?s seam:sensorKind ?kind OPTIONAL { ?s seam:sampleRateHz ?rate } OPTIONAL { ?s seam:rangeMin ?lo } OPTIONAL { ?s seam:rangeMax ?hi }";

/// Reads the whole fleet: devices, boards, runtimes, models.
pub fn load_fleet(registry: &Registry) -> Result<Fleet, QueryError> {
    let mut fleet = Fleet::default();

    for r in rows(
        registry,
        "SELECT ?b (SAMPLE(?l) AS ?label) (SAMPLE(?i) AS ?isa) (SAMPLE(?c) AS ?clock) (SAMPLE(?ram) AS ?r) (SAMPLE(?flash) AS ?f)
                (SAMPLE(?rr) AS ?resR) (SAMPLE(?rf) AS ?resF) (SAMPLE(?co) AS ?core)
         WHERE { ?b a seam:Board OPTIONAL { ?b rdfs:label ?l } OPTIONAL { ?b seam:isa ?i } OPTIONAL { ?b seam:clockHz ?c }
                 OPTIONAL { ?b seam:core ?co }
                 OPTIONAL { ?b seam:ramBytes ?ram } OPTIONAL { ?b seam:flashBytes ?flash }
                 OPTIONAL { ?b seam:reservedRamBytes ?rr } OPTIONAL { ?b seam:reservedFlashBytes ?rf } }
         GROUP BY ?b",
    )? {
        let Some(b) = iri(&r, 0) else { continue };
        fleet.boards.insert(
            b.clone(),
            BoardFacts {
                label: text(&r, 1).unwrap_or_else(|| b.clone()),
                iri: b,
                isa: iri(&r, 2),
                clock_hz: int(&r, 3),
                ram_bytes: int(&r, 4),
                flash_bytes: int(&r, 5),
                reserved_ram_bytes: int(&r, 6).unwrap_or(0),
                reserved_flash_bytes: int(&r, 7).unwrap_or(0),
                core: text(&r, 8),
                ..BoardFacts::default()
            },
        );
    }
    for r in rows(registry, "SELECT ?b ?a WHERE { ?b a seam:Board ; seam:accelerator ?a }")? {
        if let (Some(b), Some(a)) = (iri(&r, 0), iri(&r, 1)) {
            if let Some(board) = fleet.boards.get_mut(&b) {
                board.accelerators.insert(a);
            }
        }
    }
    for r in rows(
        registry,
        "SELECT ?b ?dt (MIN(?m) AS ?mpc) WHERE { ?b a seam:Board ; seam:throughput ?t . ?t seam:dtype ?dt ; seam:macsPerCycle ?m } GROUP BY ?b ?dt",
    )? {
        if let (Some(b), Some(dt), Some(m)) = (iri(&r, 0), iri(&r, 1), num(&r, 2)) {
            if let Some(board) = fleet.boards.get_mut(&b) {
                board.macs_per_cycle.insert(dt, m);
            }
        }
    }

    for r in rows(
        registry,
        "SELECT ?d (SAMPLE(?n) AS ?name) (SAMPLE(?b) AS ?board) (SAMPLE(?fr) AS ?freeR) (SAMPLE(?ff) AS ?freeF)
         WHERE { ?d a seam:Device OPTIONAL { ?d seam:shortName ?n } OPTIONAL { ?d seam:board ?b }
                 OPTIONAL { ?d seam:freeRamBytes ?fr } OPTIONAL { ?d seam:freeFlashBytes ?ff } }
         GROUP BY ?d",
    )? {
        let Some(d) = iri(&r, 0) else { continue };
        fleet.devices.insert(
            d.clone(),
            DeviceFacts {
                iri: d,
                short_name: text(&r, 1),
                board: iri(&r, 2),
                free_ram_bytes: int(&r, 3),
                free_flash_bytes: int(&r, 4),
                sensors: Vec::new(),
            },
        );
    }
    for r in rows(
        registry,
        &format!("SELECT ?owner ?s ?kind ?rate ?lo ?hi WHERE {{ {{ ?owner a seam:Board }} UNION {{ ?owner a seam:Device }} ?owner seam:hasSensor ?s . {SENSOR} }}"),
    )? {
        let (Some(owner), Some(s), Some(kind)) = (iri(&r, 0), iri(&r, 1), iri(&r, 2)) else { continue };
        let sensor = SensorFacts {
            iri: s,
            kind,
            sample_rate_hz: num(&r, 3),
            range_min: num(&r, 4),
            range_max: num(&r, 5),
        };
        if let Some(board) = fleet.boards.get_mut(&owner) {
            board.sensors.push(sensor);
        } else if let Some(device) = fleet.devices.get_mut(&owner) {
            device.sensors.push(sensor);
        }
    }

    for r in rows(
        registry,
        "SELECT ?r (SAMPLE(?l) AS ?label) (SAMPLE(?ro) AS ?ramO) (SAMPLE(?fo) AS ?flashO) (SAMPLE(?cb) AS ?backend)
         WHERE { ?r a seam:Runtime OPTIONAL { ?r rdfs:label ?l } OPTIONAL { ?r seam:ramOverheadBytes ?ro } OPTIONAL { ?r seam:flashOverheadBytes ?fo }
                 OPTIONAL { ?r seam:compilerBackend ?cb } }
         GROUP BY ?r",
    )? {
        let Some(rt) = iri(&r, 0) else { continue };
        fleet.runtimes.insert(
            rt.clone(),
            RuntimeFacts {
                label: text(&r, 1).unwrap_or_else(|| rt.clone()),
                iri: rt,
                ram_overhead_bytes: int(&r, 2).unwrap_or(0),
                flash_overhead_bytes: int(&r, 3).unwrap_or(0),
                compiler_backend: text(&r, 4),
                ..RuntimeFacts::default()
            },
        );
    }
    for r in rows(
        registry,
        "SELECT ?r ?core ?dt ?class (MIN(?m) AS ?mpc) (SAMPLE(?src) AS ?source) (SAMPLE(?note) AS ?basis)
         WHERE { ?r a seam:Runtime ; seam:throughput ?t .
                 ?t seam:core ?core ; seam:dtype ?dt ; seam:operatorClass ?class ; seam:macsPerCycle ?m
                 OPTIONAL { ?t rdfs:seeAlso ?src } OPTIONAL { ?t rdfs:comment ?note } }
         GROUP BY ?r ?core ?dt ?class",
    )? {
        let (Some(rt), Some(core), Some(dtype), Some(class), Some(mpc)) =
            (iri(&r, 0), text(&r, 1), iri(&r, 2), iri(&r, 3), num(&r, 4))
        else {
            continue;
        };
        let class = if class.ends_with("#DenseLayers") {
            OperatorClass::Dense
        } else {
            OperatorClass::Convolution
        };
        if let Some(runtime) = fleet.runtimes.get_mut(&rt) {
            runtime.throughput.push(MeasuredThroughput {
                core,
                dtype,
                class,
                macs_per_cycle: mpc,
                source: iri(&r, 5),
                basis: text(&r, 6),
            });
        }
    }
    for r in rows(
        registry,
        "SELECT ?r ?p ?o WHERE { ?r a seam:Runtime ; ?p ?o VALUES ?p { seam:targetsIsa seam:targetsAccelerator seam:supportsDtype seam:supportsOperator } }",
    )? {
        let (Some(rt), Some(p), Some(o)) = (iri(&r, 0), iri(&r, 1), iri(&r, 2)) else { continue };
        let Some(runtime) = fleet.runtimes.get_mut(&rt) else { continue };
        let set = match p.rsplit('#').next() {
            Some("targetsIsa") => &mut runtime.isas,
            Some("targetsAccelerator") => &mut runtime.accelerators,
            Some("supportsDtype") => &mut runtime.dtypes,
            _ => &mut runtime.operators,
        };
        set.insert(o);
    }

    for r in rows(
        registry,
        "SELECT ?m (SAMPLE(?n) AS ?name) (SAMPLE(?tl) AS ?task) (SAMPLE(?dt) AS ?dtype) (SAMPLE(?mc) AS ?macs)
                (SAMPLE(?pk) AS ?peak) (SAMPLE(?wb) AS ?weight) (SAMPLE(?qv) AS ?variant) (MAX(?acc) AS ?accuracy)
         WHERE { ?m a seam:Model
                 OPTIONAL { ?m schema:name ?sn } OPTIONAL { ?m rdfs:label ?rl } BIND(COALESCE(?sn, ?rl) AS ?n)
                 OPTIONAL { ?m seam:task ?t OPTIONAL { ?t rdfs:label ?tlab } BIND(COALESCE(?tlab, STR(?t)) AS ?tl) }
                 OPTIONAL { ?m seam:dtype ?dt } OPTIONAL { ?m seam:macs ?mc }
                 OPTIONAL { ?m seam:peakActivationBytes ?pk } OPTIONAL { ?m seam:weightBytes ?wb }
                 OPTIONAL { ?m seam:quantizedVariant ?qv } OPTIONAL { ?m seam:accuracy/seam:value ?acc } }
         GROUP BY ?m",
    )? {
        let Some(m) = iri(&r, 0) else { continue };
        fleet.models.insert(
            m.clone(),
            ModelFacts {
                name: text(&r, 1).unwrap_or_else(|| m.clone()),
                iri: m,
                task: text(&r, 2),
                dtype: iri(&r, 3),
                macs: int(&r, 4),
                peak_activation_bytes: int(&r, 5),
                weight_bytes: int(&r, 6),
                quantized_variant: iri(&r, 7),
                accuracy: num(&r, 8),
                ..ModelFacts::default()
            },
        );
    }
    for r in rows(
        registry,
        "SELECT ?m ?op WHERE { ?m a seam:Model ; seam:requiresOperator ?op }",
    )? {
        if let (Some(m), Some(op)) = (iri(&r, 0), text(&r, 1)) {
            if let Some(model) = fleet.models.get_mut(&m) {
                model.operators.insert(op);
            }
        }
    }
    for r in rows(
        registry,
        "SELECT ?m ?kind ?rate ?range WHERE { ?m a seam:Model ; seam:requiresSensor ?q . ?q seam:sensorKind ?kind
           OPTIONAL { ?q seam:minSampleRateHz ?rate } OPTIONAL { ?q seam:minRange ?range } }",
    )? {
        if let (Some(m), Some(kind)) = (iri(&r, 0), iri(&r, 1)) {
            if let Some(model) = fleet.models.get_mut(&m) {
                model.sensors.push(SensorRequirement {
                    kind,
                    min_sample_rate_hz: num(&r, 2),
                    min_range: num(&r, 3),
                });
            }
        }
    }
    Ok(fleet)
}
