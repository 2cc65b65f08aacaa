//! One version of the compact replica as Oxigraph's evaluator reads it: quads by pattern, terms
//! in and out of their held form.

use std::convert::Infallible;
use std::sync::Arc;

use oxigraph::model::Term;
use oxsdatatypes::{Boolean, Integer};
use spareval::{ExpressionTerm, InternalQuad, QueryableDataset};

use super::quads::{Graphs, Quads, Scan};
use super::terms::{held_by_number, Held, Terms, DEFAULT_GRAPH};

/// A version of the replica, read by one query from its start to its end whatever is written
/// meanwhile. Cheap to clone.
#[derive(Clone)]
pub struct View {
    pub(super) terms: Arc<Terms>,
    pub(super) quads: Arc<Quads>,
    /// How many terms of the table this version may use (see [`Terms::number`]).
    pub(super) within: u32,
}

impl View {
    /// The quads matching a pattern of numbers, as numbers.
    pub(super) fn scan(&self, s: Option<u32>, p: Option<u32>, o: Option<u32>, graphs: Graphs) -> Scan {
        Scan::new(Arc::clone(&self.quads), s, p, o, graphs)
    }

    /// Whether any graph is named.
    pub fn has_named_graphs(&self) -> bool {
        self.quads.has_named_graphs()
    }

    /// The number of a held term, `Err(())` when no quad can hold it.
    fn number(&self, held: Option<&Held>) -> Result<Option<u32>, ()> {
        match held {
            None => Ok(None),
            Some(held) => self.terms.number_of(held, self.within).map(Some).ok_or(()),
        }
    }
}

/// The quads a pattern matches, held as a query holds terms.
struct Matches {
    scan: Option<Scan>,
    terms: Arc<Terms>,
}

impl Iterator for Matches {
    type Item = Result<InternalQuad<Held>, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        let [s, p, o, g] = self.scan.as_mut()?.next()?;
        // Only an object can be a literal held by value; most are held by their number.
        let object = if held_by_number(o) {
            Held::Stored(o)
        } else {
            self.terms.held(o)
        };
        Some(Ok(InternalQuad {
            subject: Held::Stored(s),
            predicate: Held::Stored(p),
            object,
            graph_name: (g != DEFAULT_GRAPH).then_some(Held::Stored(g)),
        }))
    }
}

impl QueryableDataset<'static> for View {
    type InternalTerm = Held;
    type Error = Infallible;

    fn internal_quads_for_pattern(
        &self,
        subject: Option<&Held>,
        predicate: Option<&Held>,
        object: Option<&Held>,
        graph_name: Option<Option<&Held>>,
    ) -> impl Iterator<Item = Result<InternalQuad<Held>, Infallible>> + use<> {
        let numbers = (|| {
            // `None` is every graph, the default one too: the evaluator asks so for the union of
            // all graphs, and leaves the default graph's quads out itself where it wants the
            // named graphs only (as Oxigraph's own stores answer).
            let graphs = match graph_name {
                None => Graphs::All,
                Some(None) => Graphs::Only(DEFAULT_GRAPH),
                Some(Some(g)) => Graphs::Only(self.terms.number_of(g, self.within).ok_or(())?),
            };
            Ok::<_, ()>((
                self.number(subject)?,
                self.number(predicate)?,
                self.number(object)?,
                graphs,
            ))
        })();
        Matches {
            scan: numbers.ok().map(|(s, p, o, graphs)| self.scan(s, p, o, graphs)),
            terms: Arc::clone(&self.terms),
        }
    }

    fn internal_named_graphs(&self) -> impl Iterator<Item = Result<Held, Infallible>> + use<> {
        let graphs: Vec<u32> = self.quads.named_graphs().collect();
        graphs.into_iter().map(|g| Ok(Held::Stored(g)))
    }

    fn contains_internal_graph_name(&self, graph_name: &Held) -> Result<bool, Infallible> {
        Ok(self
            .number(Some(graph_name))
            .ok()
            .flatten()
            .is_some_and(|g| self.quads.has_graph(g)))
    }

    fn internalize_term(&self, term: Term) -> Result<Held, Infallible> {
        Ok(self.terms.hold(term, self.within))
    }

    fn externalize_term(&self, term: Held) -> Result<Term, Infallible> {
        Ok(self.terms.term_of(&term))
    }

    fn externalize_expression_term(&self, term: Held) -> Result<ExpressionTerm, Infallible> {
        Ok(match term {
            Held::Integer(v) => ExpressionTerm::IntegerLiteral(Integer::from(v)),
            Held::Boolean(v) => ExpressionTerm::BooleanLiteral(Boolean::from(v)),
            Held::Stored(_) | Held::Other(_) => self.terms.term_of(&term).into(),
        })
    }

    fn internalize_expression_term(&self, term: ExpressionTerm) -> Result<Held, Infallible> {
        Ok(match term {
            ExpressionTerm::IntegerLiteral(v) => Held::Integer(v.into()),
            ExpressionTerm::BooleanLiteral(v) => Held::Boolean(v.into()),
            other => self.terms.hold(other.into(), self.within),
        })
    }

    fn internal_term_effective_boolean_value(&self, term: Held) -> Result<Option<bool>, Infallible> {
        Ok(match term {
            Held::Integer(v) => Some(v != 0),
            Held::Boolean(v) => Some(v),
            // The rules of SPARQL 1.1, 17.2.2, as the evaluator applies them.
            Held::Stored(_) | Held::Other(_) => match self.externalize_expression_term(term)? {
                ExpressionTerm::BooleanLiteral(v) => Some(v.into()),
                ExpressionTerm::StringLiteral(v) => Some(!v.is_empty()),
                ExpressionTerm::FloatLiteral(v) => Some(Boolean::from(v).into()),
                ExpressionTerm::DoubleLiteral(v) => Some(Boolean::from(v).into()),
                ExpressionTerm::IntegerLiteral(v) => Some(Boolean::from(v).into()),
                ExpressionTerm::DecimalLiteral(v) => Some(Boolean::from(v).into()),
                _ => None,
            },
        })
    }
}
