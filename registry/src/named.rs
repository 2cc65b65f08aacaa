//! Named SPARQL queries (`queries/*.rq`): parsed headers, typed parameters, binding by
//! substitution.
//!
//! Each file starts with a header of `#` lines:
//!
//! ```text
//! # name: compatible-models
//! # purpose: one or more lines (continuation lines are indented)
//! # param device: device (required) — the device
//! # param headroomPct: integer = 10 — RAM headroom, percent
//! # param latencyBudgetS: decimal (optional) — budget in seconds
//! # example: GET /queries/compatible-models?device=dev:line3-acoustic-02
//! ```
//!
//! Parameter values become typed RDF terms and are bound to the query's variables of the same
//! name by Oxigraph's variable substitution, at the algebra level: a value is never spliced into
//! the query text, so `"> } ; DROP ALL ; #` is just a string.

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Term};
use serde::Serialize;

use crate::bundled;
use crate::vocab::expand;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// An absolute IRI or a prefixed name with one of SEAM's prefixes.
    Iri,
    /// A device: IRI, prefixed name, or short name (resolved through the store).
    Device,
    /// An `xsd:integer`.
    Integer,
    /// An `xsd:decimal`.
    Decimal,
    /// An `xsd:string`.
    String,
    /// An `xsd:boolean`.
    Boolean,
}

/// One parameter of a named query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// The name, which is also the query variable it binds.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Whether it must be given.
    pub required: bool,
    /// The value used when it is not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// What it means.
    pub description: String,
}

/// A named query with its documentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedQuery {
    /// Its name (the file name without `.rq`).
    pub name: String,
    /// What it answers.
    pub purpose: String,
    /// Its parameters.
    pub parameters: Vec<Param>,
    /// An example call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The SPARQL text.
    #[serde(skip)]
    pub text: String,
}

/// A parameter problem, for a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A parameter the query does not declare.
    #[error("unknown parameter `{name}` (this query takes: {known})")]
    Unknown {
        /// The parameter given.
        name: String,
        /// The parameters the query takes.
        known: String,
    },
    /// A required parameter is missing.
    #[error("missing required parameter `{0}`")]
    Missing(String),
    /// A parameter was given more than once.
    #[error("parameter `{0}` is given more than once")]
    Repeated(String),
    /// A value that is not of the parameter's type.
    #[error("parameter `{name}`: {message}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is wrong with its value.
        message: String,
    },
}

/// A header that does not parse (a defect of a shipped query file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queries/{file}: {message}")]
pub struct HeaderError {
    file: String,
    message: String,
}

impl NamedQuery {
    /// Parses a query file's header.
    pub fn parse(file: &str, text: &str) -> Result<Self, HeaderError> {
        let err = |message: String| HeaderError {
            file: file.to_owned(),
            message,
        };
        let mut name = None;
        let mut purpose = String::new();
        let mut example = None;
        let mut parameters = Vec::new();
        let mut in_purpose = false;
        for line in text.lines() {
            let Some(comment) = line.strip_prefix('#') else { break };
            if let Some(rest) = comment.strip_prefix("   ").filter(|_| in_purpose) {
                purpose.push(' ');
                purpose.push_str(rest.trim());
                continue;
            }
            in_purpose = false;
            let comment = comment.trim();
            if let Some(v) = comment.strip_prefix("name:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = comment.strip_prefix("purpose:") {
                purpose = v.trim().to_owned();
                in_purpose = true;
            } else if let Some(v) = comment.strip_prefix("example:") {
                example = Some(v.trim().to_owned());
            } else if let Some(v) = comment.strip_prefix("param ") {
                parameters.push(parse_param(v).map_err(err)?);
            }
        }
        let name = name.ok_or_else(|| err("no `# name:` line".into()))?;
        if format!("{name}.rq") != file {
            return Err(err(format!("declares name `{name}`, which is not its file name")));
        }
        Ok(Self {
            name,
            purpose,
            parameters,
            example,
            text: text.to_owned(),
        })
    }

    /// Turns `given` (name, raw value) pairs into typed terms for the query's variables, with
    /// defaults filled in. `resolve_device` maps a device's short name to its IRI.
    pub fn bind(
        &self,
        given: &[(String, String)],
        resolve_device: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, Term)>, ParamError> {
        for (i, (name, _)) in given.iter().enumerate() {
            if !self.parameters.iter().any(|p| &p.name == name) {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    known: self
                        .parameters
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            if given[..i].iter().any(|(n, _)| n == name) {
                return Err(ParamError::Repeated(name.clone()));
            }
        }
        let mut out = Vec::new();
        for p in &self.parameters {
            let value = given.iter().find(|(n, _)| n == &p.name).map(|(_, v)| v.as_str());
            let value = match (value, &p.default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.as_str(),
                (None, None) if p.required => return Err(ParamError::Missing(p.name.clone())),
                (None, None) => continue,
            };
            out.push((p.name.clone(), typed(p, value, resolve_device)?));
        }
        Ok(out)
    }
}

fn parse_param(text: &str) -> Result<Param, String> {
    // `NAME: TYPE [= DEFAULT | (required) | (optional)] — DESCRIPTION`
    let (spec, description) = text.split_once('—').unwrap_or((text, ""));
    let (name, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("param line without `name: type`: {text}"))?;
    let rest = rest.trim();
    let (kind, modifier) = rest.split_once(' ').unwrap_or((rest, ""));
    let kind = match kind {
        "iri" => ParamType::Iri,
        "device" => ParamType::Device,
        "integer" => ParamType::Integer,
        "decimal" => ParamType::Decimal,
        "string" => ParamType::String,
        "boolean" => ParamType::Boolean,
        other => return Err(format!("unknown parameter type `{other}`")),
    };
    let modifier = modifier.trim();
    let (required, default) = if modifier == "(required)" {
        (true, None)
    } else if let Some(d) = modifier.strip_prefix('=') {
        (false, Some(d.trim().to_owned()))
    } else {
        (false, None)
    };
    Ok(Param {
        name: name.trim().to_owned(),
        kind,
        required,
        default,
        description: description.trim().to_owned(),
    })
}

fn typed(p: &Param, value: &str, resolve_device: &dyn Fn(&str) -> Option<String>) -> Result<Term, ParamError> {
    let invalid = |message: String| ParamError::Invalid {
        name: p.name.clone(),
        message,
    };
    Ok(match p.kind {
        ParamType::Iri | ParamType::Device => {
            let expanded = expand(value.trim());
            let iri = if p.kind == ParamType::Device && !expanded.contains(':') {
                resolve_device(&expanded).ok_or_else(|| invalid(format!("no device with the short name {value:?}")))?
            } else {
                expanded
            };
            NamedNode::new(&iri)
                .map_err(|e| invalid(format!("{value:?} is not an absolute IRI or known prefixed name ({e})")))?
                .into()
        }
        ParamType::Integer => {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid(format!("{value:?} is not an integer")))?;
            Literal::from(v).into()
        }
        ParamType::Decimal => {
            let v = value.trim();
            let ok = !v.is_empty()
                && v.trim_start_matches(['-', '+']).split_once('.').map_or_else(
                    || v.trim_start_matches(['-', '+']).chars().all(|c| c.is_ascii_digit()),
                    |(a, b)| {
                        a.chars().all(|c| c.is_ascii_digit())
                            && b.chars().all(|c| c.is_ascii_digit())
                            && !(a.is_empty() && b.is_empty())
                    },
                );
            if !ok {
                return Err(invalid(format!("{value:?} is not a decimal number")));
            }
            Literal::new_typed_literal(v, xsd::DECIMAL).into()
        }
        ParamType::String => Literal::new_simple_literal(value).into(),
        ParamType::Boolean => match value.trim() {
            "true" | "1" => Literal::from(true).into(),
            "false" | "0" => Literal::from(false).into(),
            _ => return Err(invalid(format!("{value:?} is not true or false"))),
        },
    })
}

/// Every shipped named query, sorted by name.
pub fn all() -> Result<Vec<NamedQuery>, HeaderError> {
    let mut queries = bundled::QUERIES
        .iter()
        .map(|(file, text)| NamedQuery::parse(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    queries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(queries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "# name: t\n# purpose: first line\n#   continued\n# param device: device (required) — the device\n\
                     # param n: integer = 10 — a number\n# param d: decimal (optional) — seconds\n\
                     # param s: string (optional) — text\nSELECT * WHERE { }\n";

    fn no_devices(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn headers_parse() {
        let q = NamedQuery::parse("t.rq", Q).unwrap();
        assert_eq!(q.purpose, "first line continued");
        assert_eq!(q.parameters.len(), 4);
        assert!(q.parameters[0].required);
        assert_eq!(q.parameters[1].default.as_deref(), Some("10"));
        assert!(NamedQuery::parse("other.rq", Q).is_err());
    }

    #[test]
    fn values_become_typed_terms() {
        let q = NamedQuery::parse("t.rq", Q).unwrap();
        let b = q
            .bind(
                &[("device".into(), "dev:x".into()), ("d".into(), "0.5".into())],
                &no_devices,
            )
            .unwrap();
        assert_eq!(b[0].1.to_string(), "<https://w3id.org/seam/device/x>");
        assert_eq!(b[1].1, Term::from(Literal::from(10_i64)));
        assert_eq!(b[2].1, Term::from(Literal::new_typed_literal("0.5", xsd::DECIMAL)));
        let short = q
            .bind(&[("device".into(), "line3".into())], &|n| Some(format!("urn:dev:{n}")))
            .unwrap();
        assert_eq!(short[0].1.to_string(), "<urn:dev:line3>");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let q = NamedQuery::parse("t.rq", Q).unwrap();
        let dev = ("device".to_owned(), "dev:x".to_owned());
        assert!(matches!(q.bind(&[], &no_devices), Err(ParamError::Missing(_))));
        assert!(matches!(
            q.bind(&[dev.clone(), ("zzz".into(), "1".into())], &no_devices),
            Err(ParamError::Unknown { .. })
        ));
        assert!(matches!(
            q.bind(&[dev.clone(), ("n".into(), "ten".into())], &no_devices),
            Err(ParamError::Invalid { .. })
        ));
        assert!(matches!(
            q.bind(&[dev.clone(), ("d".into(), "1e3".into())], &no_devices),
            Err(ParamError::Invalid { .. })
        ));
        assert!(matches!(
            q.bind(&[dev.clone(), dev.clone()], &no_devices),
            Err(ParamError::Repeated(_))
        ));
        assert!(matches!(
            q.bind(&[("device".into(), "nobody".into())], &no_devices),
            Err(ParamError::Invalid { .. })
        ));
        assert!(matches!(
            q.bind(&[("device".into(), "<x> } DROP ALL".into())], &no_devices),
            Err(ParamError::Invalid { .. })
        ));
        // A string carrying SPARQL syntax is only a string.
        let s = q
            .bind(&[dev, ("s".into(), "\"> } ; DROP ALL ; #".into())], &no_devices)
            .unwrap();
        assert_eq!(
            s.last().unwrap().1,
            Term::from(Literal::new_simple_literal("\"> } ; DROP ALL ; #"))
        );
    }

    #[test]
    fn shipped_queries_have_valid_headers() {
        let all = all().unwrap();
        assert!(all.iter().any(|q| q.name == "compatible-models"));
        for q in &all {
            assert!(!q.purpose.is_empty(), "{} has no purpose", q.name);
        }
    }
}
