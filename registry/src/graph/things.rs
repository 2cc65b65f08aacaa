//! Writing W3C WoT Thing Descriptions: each the named graph of its id, with plain documents, in
//! one transaction.

use oxigraph::model::NamedNode;

use super::{bundled_documents, LoadReport, Registry};
use crate::error::IngestError;
use crate::ingest::Document;
use crate::store::Commit;

impl Registry {
    /// Loads `docs` as they are and each of `things` into its own named graph (its id),
    /// replacing what that graph held: all validated together, then one transaction. An empty
    /// store first gets the ontology and the example catalog, in the same transaction. Returns
    /// whether it was seeded.
    pub fn load_things(
        &self,
        docs: &[Document],
        things: &[crate::ingest::td::Thing],
    ) -> Result<(LoadReport, bool), IngestError> {
        let (quads_read, seeded) = self.put_things(docs, things)?;
        Ok((
            LoadReport {
                documents: docs.len() + things.len(),
                quads_read,
                store_size: self.len()?,
            },
            seeded,
        ))
    }

    /// [`Self::load_things`] without counting the store afterwards (a count reads every quad:
    /// a directory that counted after each registration would slow down as it grows). Returns
    /// the quads read and whether the store was seeded.
    pub fn put_things(
        &self,
        docs: &[Document],
        things: &[crate::ingest::td::Thing],
    ) -> Result<(usize, bool), IngestError> {
        // Two TDs of one id in one write: which one the registry should keep is not for SEAM to
        // guess.
        let mut first_of: std::collections::HashMap<&NamedNode, &str> = std::collections::HashMap::new();
        for thing in things {
            if let Some(earlier) = first_of.insert(&thing.id, &thing.document.name) {
                return Err(IngestError::Invalid(vec![crate::error::Diagnostic {
                    file: thing.document.name.clone(),
                    line: None,
                    column: None,
                    message: format!(
                        "{earlier} and {} are both the TD {}: load one of them",
                        thing.document.name,
                        thing.id.as_str()
                    ),
                }]));
            }
        }
        let _writer = self.write_lock();
        let seed = if self.is_empty()? {
            bundled_documents()?
        } else {
            Vec::new()
        };
        let all: Vec<Document> = seed
            .iter()
            .chain(docs)
            .chain(things.iter().map(|t| &t.document))
            .cloned()
            .collect();
        let replaced: Vec<NamedNode> = things.iter().map(|t| t.id.clone()).collect();
        let diagnostics = self.shapes.validate_replacing(&all, self.store.as_ref(), &replaced)?;
        if !diagnostics.is_empty() {
            return Err(IngestError::Invalid(diagnostics));
        }
        let plain: Vec<&[oxigraph::model::Quad]> = seed.iter().chain(docs).map(|d| d.quads.as_slice()).collect();
        let graphs: Vec<(&NamedNode, &[oxigraph::model::Quad])> =
            things.iter().map(|t| (&t.id, t.document.quads.as_slice())).collect();
        self.store.commit(Commit::ReplaceGraphs {
            seed: &plain,
            graphs: &graphs,
        })?;
        let quads_read = docs
            .iter()
            .chain(things.iter().map(|t| &t.document))
            .map(|d| d.quads.len())
            .sum();
        Ok((quads_read, !seed.is_empty()))
    }
}
