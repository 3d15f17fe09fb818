//! ONNX Runtime: the shared library loaded once per process, and pools of
//! sessions (ONNX Runtime runs one call per session at a time, so a model
//! used by several requests at once has several sessions).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use ort::environment::Environment;
use ort::session::Session;

static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` once per process. The error says how to
/// get the library.
pub fn runtime(library: &Path) -> Result<&'static Environment, String> {
    RUNTIME
        .get_or_init(|| {
            let builder = ort::init_from(library).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e} (run scripts/setup.sh)",
                    library.display()
                )
            })?;
            builder.with_name("veil").build().map_err(|e| format!("ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Sessions of one model file.
pub struct Pool {
    sessions: Vec<Mutex<Session>>,
}

impl Pool {
    /// `size` sessions of `threads` threads each on `model`. The error names
    /// the file and says how to get it.
    pub fn load(
        runtime: &Environment,
        model: &Path,
        size: usize,
        threads: usize,
    ) -> Result<Self, String> {
        if !model.is_file() {
            return Err(format!(
                "model file {} is missing (run scripts/setup.sh)",
                model.display()
            ));
        }
        let failed = |e: &dyn std::fmt::Display| format!("model {}: {e}", model.display());
        let mut sessions = Vec::new();
        for _ in 0..size.max(1) {
            let session = Session::builder(runtime)
                .map_err(|e| failed(&e))?
                .with_intra_threads(threads.max(1))
                .map_err(|e| failed(&e))?
                .commit_from_file(model)
                .map_err(|e| failed(&e))?;
            sessions.push(Mutex::new(session));
        }
        Ok(Self { sessions })
    }

    /// The names of the model's inputs, in the order it declares them.
    pub fn input_names(&self) -> Result<Vec<String>, String> {
        let session = self.get()?;
        Ok(session.inputs().iter().map(|i| i.name().to_owned()).collect())
    }

    /// A free session, or the first one once it is free.
    pub fn get(&self) -> Result<MutexGuard<'_, Session>, String> {
        for s in &self.sessions {
            if let Ok(guard) = s.try_lock() {
                return Ok(guard);
            }
        }
        self.sessions[0].lock().map_err(|_| "a model session panicked".to_owned())
    }
}
