//! The seam between the ops side and the engines. The engines are owned by
//! the packet workers, so the ops side never holds them: it asks each
//! worker to run a closure between two batches (the node implements
//! [`EnginePool`] over its worker control channel). [`LocalPool`] holds
//! engines itself, for tools that own their engines (tests, the demo).

use std::sync::Mutex;
use std::time::Duration;

use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::{Engine, Instant};

/// What a closure sees of one worker.
#[derive(Debug)]
pub struct WorkerView<'a> {
    /// The worker's engine.
    pub engine: &'a mut Engine,
    /// Its I/O counters (absent where there is no packet I/O).
    pub io: Option<&'a BridgeCounters>,
    /// The worker's clock, as the engine sees it.
    pub now: Instant,
    /// Worker index, from 0.
    pub worker: usize,
}

/// A worker did not answer (the pool's fault, not the caller's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PoolError(pub String);

/// Engines that run closures on request.
pub trait EnginePool: Send + Sync + 'static {
    /// Number of workers.
    fn workers(&self) -> usize;

    /// Run `f` on every worker between two batches; results in worker
    /// order. Blocking; an error if a worker does not answer within
    /// `timeout`.
    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError>;
}

/// Engines held behind a lock, with a clock the owner provides.
pub struct LocalPool {
    engines: Mutex<Vec<Engine>>,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// Requests made of the workers ([`EnginePool::each`] calls): how
    /// many jobs a walk or clear cost, for the tests that bound it.
    requests: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for LocalPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPool").finish_non_exhaustive()
    }
}

impl LocalPool {
    /// A pool of `engines` whose time is `clock()`.
    pub fn new(engines: Vec<Engine>, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        LocalPool {
            engines: Mutex::new(engines),
            clock: Box::new(clock),
            requests: Default::default(),
        }
    }

    /// How many requests were made of the workers ([`EnginePool::each`]).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Run `f` on engine `i` directly (the owner feeding it packets).
    pub fn with<R>(&self, i: usize, f: impl FnOnce(&mut Engine, Instant) -> R) -> Option<R> {
        let now = (self.clock)();
        let mut engines = self.engines.lock().ok()?;
        engines.get_mut(i).map(|e| f(e, now))
    }
}

impl EnginePool for LocalPool {
    fn workers(&self) -> usize {
        self.engines.lock().map_or(0, |e| e.len())
    }

    fn each<R: Send + 'static>(
        &self,
        _timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = (self.clock)();
        let mut engines = self
            .engines
            .lock()
            .map_err(|_| PoolError("an engine holder panicked".into()))?;
        Ok(engines
            .iter_mut()
            .enumerate()
            .map(|(worker, engine)| {
                f(&mut WorkerView {
                    engine,
                    io: None,
                    now,
                    worker,
                })
            })
            .collect())
    }
}
