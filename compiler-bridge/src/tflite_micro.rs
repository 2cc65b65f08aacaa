//! The `tflite-micro` backend: a TFLite flatbuffer, and the C array TensorFlow Lite Micro firmware
//! embeds it as.
//!
//! tract writes the flatbuffer from the decluttered model (`tract_tflite::Tflite::write`). It keeps
//! tract's layout decisions: NCHW models get TRANSPOSE pairs around NHWC convolutions, 1×1
//! convolutions and dense layers become BATCH_MATMUL, ReLU becomes MAXIMUM — all kernels TFLM has.
//! Weights are written as float32: an int8 QDQ model is dequantised by tract when it declutters,
//! so `--quantize int8` rounds the weights but does not shrink this artifact (fully int8 TFLite
//! needs calibrated activations, which an external converter can provide). A TFLite model given
//! to it (a converter's fully int8 one, say) is embedded as it is.

use crate::analysis::analyze_bytes;
use crate::backend::{decluttered, Artifact, ArtifactFile, Backend, CArrayBackend, Job, Runnable};
use crate::BridgeError;

/// See the module documentation.
pub struct TfliteMicroBackend;

impl Backend for TfliteMicroBackend {
    fn name(&self) -> &str {
        "tflite-micro"
    }
    fn version(&self) -> String {
        "tract-0.23.9".into()
    }
    fn description(&self) -> String {
        "a float32 TFLite flatbuffer (written by tract) and its C array, for TensorFlow Lite Micro".into()
    }
    fn accepts_tflite(&self) -> bool {
        true
    }
    fn compile(&self, job: &Job<'_>) -> Result<Artifact, BridgeError> {
        let fail = |message: String| BridgeError::Backend {
            backend: self.name().to_owned(),
            message,
        };
        // A TFLite model is what TFLM runs already: it is embedded as it is.
        let flatbuffer = if crate::tflite::is_tflite(job.model) {
            job.model.to_vec()
        } else {
            let model = decluttered(self, job)?;
            let mut written = Vec::new();
            tract_tflite::tflite()
                .write(&model, &mut written)
                .map_err(|e| fail(format!("tract cannot write TFLite: {e:#}")))?;
            written
        };
        // The arena is planned on the flatbuffer itself: it is what TFLM will run.
        let arena = analyze_bytes(&flatbuffer, None)?.arena_bytes;
        let embedded = CArrayBackend::embed(&flatbuffer, job.stem, arena, "tflite-micro");
        let mut files = vec![ArtifactFile {
            name: format!("{}.tflite", job.stem),
            bytes: flatbuffer,
        }];
        files.extend(embedded);
        let device_bytes = files[0].bytes.len() as u64;
        Ok(Artifact {
            files,
            log: String::new(),
            runnable: Some(Runnable::Tflite(0)),
            device_bytes: Some(device_bytes),
        })
    }
}
