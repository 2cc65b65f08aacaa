//! The `tract-nnef` backend: the model as an NNEF archive, for Linux-class devices running tract.
//!
//! tract loads NNEF without the ONNX front end (no protobuf parsing, no type inference at start),
//! so a device starts faster and carries a smaller binary. The archive is written from the
//! decluttered model with tract's ONNX extension registered, for the few ONNX operators NNEF has
//! no word for, and deterministically (fixed timestamps), so the same model gives the same bytes
//! and the package cache and signatures stay stable.

use tract_onnx::prelude::*;

use crate::backend::{decluttered, Artifact, ArtifactFile, Backend, Job, Runnable};
use crate::BridgeError;

/// See the module documentation.
pub struct TractNnefBackend;

impl Backend for TractNnefBackend {
    fn name(&self) -> &str {
        "tract-nnef"
    }
    fn version(&self) -> String {
        // The archive's dialect is tract's: the version that wrote it is the one that matters.
        "tract-0.23.9".into()
    }
    fn description(&self) -> String {
        "an NNEF archive (tar) tract loads, for Linux-class devices".into()
    }
    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        let fail = |message: String| BridgeError::Backend {
            backend: self.name().to_owned(),
            message,
        };
        let model = decluttered(self, job)?;
        let archive = tract_nnef::nnef()
            .with_onnx()
            .write_to_tar_with_config(&model, Vec::new(), false, true)
            .map_err(|e| fail(format!("tract cannot write NNEF: {e:#}")))?;
        Ok(Artifact {
            files: vec![ArtifactFile {
                name: format!("{}.nnef.tar", job.stem),
                bytes: archive,
            }],
            log: String::new(),
            runnable: Some(Runnable::Nnef(0)),
            device_bytes: None,
        })
    }
}
