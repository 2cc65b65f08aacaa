//! Where SPARQL is evaluated: a few threads with large stacks behind a bounded queue.
//!
//! - **Isolation**: the parser, optimiser and evaluator recurse; they run on threads whose stack
//!   is far larger than what the shape limits ([`crate::guard`]) let any query need, and a panic
//!   inside them (a defect of the evaluator) is caught and answered as an error of that request
//!   alone. Nothing of the caller's thread, and no other request, is touched by it.
//! - **Admission**: at most `threads` evaluations run at once and at most `queue` wait; past that
//!   the caller is told at once that the service is busy, instead of every request slowing down
//!   together (or memory growing with the number of concurrent queries).
//! - **Deadlines**: a job that waited past its deadline in the queue is not started; a caller
//!   stops waiting shortly after the deadline even when the evaluator is in a phase that does not
//!   look at its cancellation token (the thread finishes the work and is then reused).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::QueryError;

/// Stack of each evaluation thread. Reserved, not committed: pages are touched only by deep
/// recursion. The shape limits keep real needs at a few MiB.
const STACK_BYTES: usize = 256 * 1024 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// How many evaluations run at once and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorLimits {
    /// Evaluation threads.
    pub threads: usize,
    /// Jobs that may wait for a thread; more are refused as busy.
    pub queue: usize,
    /// Most solutions one `ORDER BY` or `DISTINCT` may hold (measured: 4 million solutions of nine
    /// variables held 1.5 GB, about 40 bytes a value).
    pub max_sorted_solutions: usize,
}

impl Default for ExecutorLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            threads: cores.max(2),
            queue: 64,
            max_sorted_solutions: 2_000_000,
        }
    }
}

/// The evaluation pool of one registry. Threads start on first use and end when the last handle
/// to the registry is dropped.
pub(crate) struct Executor {
    limits: ExecutorLimits,
    queue: OnceLock<Result<SyncSender<Job>, String>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Executor {
    pub(crate) fn new(limits: ExecutorLimits) -> Self {
        Self {
            limits: ExecutorLimits {
                threads: limits.threads.max(1),
                ..limits
            },
            queue: OnceLock::new(),
        }
    }

    fn sender(&self) -> Result<&SyncSender<Job>, QueryError> {
        self.queue
            .get_or_init(|| start(self.limits))
            .as_ref()
            .map_err(|e| QueryError::Internal(format!("cannot start the query evaluators: {e}")))
    }

    /// Runs `work` on an evaluation thread and waits for it until a little after `deadline`.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        timeout: Duration,
        work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, QueryError> {
        let (reply, answer) = mpsc::sync_channel::<Result<T, QueryError>>(1);
        let job: Job = Box::new(move || {
            let result = if Instant::now() >= deadline {
                Err(QueryError::Timeout(timeout))
            } else {
                catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown cause".to_owned());
                    tracing::error!(panic = %what, "the query evaluator panicked; the request was refused");
                    Err(QueryError::Internal(format!("the query evaluator failed ({what})")))
                })
            };
            // The caller may have stopped waiting; its answer is then dropped.
            let _ = reply.send(result);
        });
        match self.sender()?.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(QueryError::Busy {
                    running: self.limits.threads,
                    waiting: self.limits.queue,
                })
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(QueryError::Internal("the query evaluators have stopped".into()))
            }
        }
        let grace = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let wait = deadline.saturating_duration_since(Instant::now()) + grace;
        match answer.recv_timeout(wait) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(QueryError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(QueryError::Internal("the query evaluator stopped".into())),
        }
    }
}

fn start(limits: ExecutorLimits) -> Result<SyncSender<Job>, String> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(limits.queue);
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..limits.threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("seam-sparql-{n}"))
            .stack_size(STACK_BYTES)
            .spawn(move || {
                // The evaluator reads its memory bound on the thread it evaluates on.
                spareval::limits::set_max_sorted_solutions(limits.max_sorted_solutions);
                serve(&receiver)
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(sender)
}

fn serve(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while taking a job, never while running one.
        let job = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(threads: usize, queue: usize) -> ExecutorLimits {
        ExecutorLimits {
            threads,
            queue,
            ..ExecutorLimits::default()
        }
    }

    #[test]
    fn a_panic_is_one_request_s_error() {
        let e = Executor::new(limits(1, 4));
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = e
            .run::<()>(deadline, Duration::from_secs(5), || panic!("boom"))
            .unwrap_err();
        assert!(matches!(&err, QueryError::Internal(m) if m.contains("boom")), "{err}");
        // The same single thread still serves the next request.
        assert_eq!(e.run(deadline, Duration::from_secs(5), || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn deep_recursion_fits_the_stack() {
        fn down(n: usize) -> usize {
            let pad = [n as u8; 512];
            if n == 0 {
                0
            } else {
                down(n - 1) + std::hint::black_box(pad)[0] as usize
            }
        }
        let e = Executor::new(limits(1, 1));
        let deadline = Instant::now() + Duration::from_secs(10);
        assert!(e.run(deadline, Duration::from_secs(10), || Ok(down(100_000))).is_ok());
    }

    #[test]
    fn a_full_queue_is_busy_and_late_jobs_do_not_start() {
        let e = Arc::new(Executor::new(limits(1, 1)));
        let (release, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let long = Duration::from_secs(5);
        let blocker = {
            let e = e.clone();
            let wait = wait.clone();
            std::thread::spawn(move || {
                e.run(Instant::now() + long, long, move || {
                    let _ = wait.lock().map(|w| w.recv_timeout(Duration::from_secs(5)));
                    Ok(())
                })
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        // One job waits in the queue with a deadline that passes while it waits.
        let queued = {
            let e = e.clone();
            std::thread::spawn(move || {
                e.run(
                    Instant::now() + Duration::from_millis(50),
                    Duration::from_millis(50),
                    || Ok(()),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let busy = e.run(Instant::now() + long, long, || Ok(()));
        assert!(matches!(busy, Err(QueryError::Busy { .. })), "{busy:?}");
        assert!(matches!(queued.join().unwrap(), Err(QueryError::Timeout(_))));
        release.send(()).unwrap();
        blocker.join().unwrap().unwrap();
    }
}
