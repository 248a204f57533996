//! How processes start, run their long-lived loops and stop.
//!
//! - [`shutdown_on_signals`]: one token, cancelled on SIGTERM or Ctrl-C, that
//!   every loop of the process watches.
//! - [`Tasks`]: the loops a process runs side by side. Each is named, and
//!   each ending is accounted for: a loop that returns an error or panics is
//!   reported by name, never dropped on the floor, and the first one to end
//!   early stops the others.

use std::any::Any;
use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A loop that ended early, or badly. The loop's error is part of the
/// message rather than a `source()`: it is logged with `%`, which shows
/// the message alone.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{name} failed: {error}")]
    Failed {
        name: &'static str,
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{name} panicked: {message}")]
    Panicked { name: &'static str, message: String },
    #[error("{name} stopped before it was asked to")]
    Stopped { name: &'static str },
}

type Outcome = (
    &'static str,
    Result<(), Box<dyn std::error::Error + Send + Sync>>,
);

/// Named loops running side by side until a shared token is cancelled.
pub struct Tasks {
    set: JoinSet<Outcome>,
    /// Which task each tokio task id is, to name a panicking one.
    names: Vec<(tokio::task::Id, &'static str)>,
    shutdown: CancellationToken,
}

impl Tasks {
    /// Tasks that stop when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            set: JoinSet::new(),
            names: Vec::new(),
            shutdown,
        }
    }

    /// The token every task watches.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Run `task` until it returns.
    pub fn spawn<F, E>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let handle = self.set.spawn(async move {
            let outcome = task.await.map_err(|e| Box::new(e) as _);
            (name, outcome)
        });
        self.names.push((handle.id(), name));
    }

    /// Run `task`, a loop that returns only when the token is cancelled.
    pub fn spawn_loop<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, async move {
            task.await;
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// Wait until a task ends (before shutdown, that is a failure of the
    /// process: an error, a panic, or a loop that stopped on its own). Never
    /// resolves while every task runs.
    pub async fn first_failure(&mut self) -> TaskError {
        loop {
            match self.set.join_next_with_id().await {
                Some(joined) => {
                    if let Err(e) = self.account(joined) {
                        return e;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Cancel the token, wait for every task, and report the first that
    /// failed or panicked (later ones are logged).
    pub async fn stop(mut self) -> Result<(), TaskError> {
        self.shutdown.cancel();
        let mut first = None;
        while let Some(joined) = self.set.join_next_with_id().await {
            if let Err(e) = self.account(joined) {
                match first {
                    None => first = Some(e),
                    Some(_) => tracing::error!(error = %e, "another task failed"),
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn account(
        &self,
        joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    ) -> Result<(), TaskError> {
        match joined {
            Ok((_, (name, Ok(())))) if self.shutdown.is_cancelled() => {
                tracing::debug!(task = name, "stopped");
                Ok(())
            }
            Ok((_, (name, Ok(())))) => Err(TaskError::Stopped { name }),
            Ok((_, (name, Err(error)))) => Err(TaskError::Failed { name, error }),
            Err(e) => {
                let name = self.name_of(e.id());
                if e.is_panic() {
                    let message = panic_message(e.into_panic());
                    Err(TaskError::Panicked { name, message })
                } else {
                    Err(TaskError::Stopped { name })
                }
            }
        }
    }

    fn name_of(&self, id: tokio::task::Id) -> &'static str {
        self.names
            .iter()
            .find(|(task, _)| *task == id)
            .map_or("a task", |(_, name)| *name)
    }
}

/// What a panic said, when it said it with a string.
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "a panic without a message".to_string(),
        },
    }
}

/// A token cancelled on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

/// Resolves on SIGTERM or Ctrl-C.
#[cfg(unix)]
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
pub async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    #[tokio::test]
    async fn a_panic_is_reported_with_the_tasks_name() {
        let mut tasks = Tasks::new(CancellationToken::new());
        let token = tasks.shutdown().clone();
        tasks.spawn("waits", async move {
            token.cancelled().await;
            Ok::<(), Boom>(())
        });
        tasks.spawn_loop("folder", async { panic!("index out of bounds") });
        let failure = tasks.first_failure().await;
        assert!(
            matches!(&failure, TaskError::Panicked { name: "folder", message } if message == "index out of bounds"),
            "{failure:?}"
        );
        assert!(tasks.stop().await.is_ok(), "the other task stopped cleanly");
    }

    #[tokio::test]
    async fn errors_and_early_returns_are_failures_and_stop_reports_the_first() {
        let mut tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("sweeper", async { Err(Boom) });
        let failure = tasks.first_failure().await;
        assert_eq!(failure.to_string(), "sweeper failed: boom");

        let mut tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("worker", async { Ok::<(), Boom>(()) });
        tasks.spawn("serve", async { Err(Boom) });
        let stopped = tasks.stop().await.unwrap_err();
        assert!(
            matches!(stopped, TaskError::Failed { name: "serve", .. }),
            "{stopped:?}"
        );
    }
}
