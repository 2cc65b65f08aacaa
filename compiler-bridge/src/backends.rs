//! The backends one compilation may choose from: the built-in ones (`tract-nnef`,
//! `tflite-micro`, `onnx-int8`, `c-array`), then those declared in TOML (external compilers and
//! compile services). The [`Backend`] trait itself lives in `backend`, which knows none of them.

use crate::backend::{Backend, CArrayBackend, OnnxBackend};
use crate::BridgeError;

/// The backends one compilation may choose from: the built-in ones, then declared ones.
pub struct Backends {
    list: Vec<Box<dyn Backend>>,
}

impl Default for Backends {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Backends {
    /// The built-in backends.
    pub fn builtin() -> Self {
        Self {
            list: vec![
                Box::new(crate::nnef::TractNnefBackend),
                Box::new(crate::tflite_micro::TfliteMicroBackend),
                Box::new(OnnxBackend),
                Box::new(CArrayBackend),
            ],
        }
    }

    /// The built-in backends and those declared in the TOML files `declarations`
    /// ([`crate::external`]).
    pub fn with_declarations(declarations: &[std::path::PathBuf]) -> Result<Self, BridgeError> {
        let mut backends = Self::builtin();
        for file in declarations {
            for backend in crate::external::load(file)? {
                backends.add(backend)?;
            }
        }
        Ok(backends)
    }

    /// Adds a backend; a name already taken is refused.
    pub fn add(&mut self, backend: Box<dyn Backend>) -> Result<(), BridgeError> {
        if self.get(backend.name()).is_some() {
            return Err(BridgeError::Backend {
                backend: backend.name().to_owned(),
                message: "a backend of that name already exists".into(),
            });
        }
        self.list.push(backend);
        Ok(())
    }

    /// The backend named `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Backend> {
        self.list.iter().find(|b| b.name() == name).map(|b| b.as_ref())
    }

    /// All of them, in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Backend> {
        self.list.iter().map(|b| b.as_ref())
    }

    /// Their names, for messages.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|b| b.name().to_owned()).collect()
    }
}
