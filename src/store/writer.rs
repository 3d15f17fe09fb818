//! Group commit for SQLite writes.
//!
//! On a real disk a SQLite commit costs far more than the statements in it,
//! and concurrent requests each want one. [`GroupWriter`] runs writes on one
//! dedicated thread: it takes every operation waiting in its queue (up to
//! [`MAX_BATCH`]), runs each inside its own savepoint of one transaction (a
//! failing operation rolls back alone), commits once, and only then answers
//! each caller. Under load many operations share a commit; alone, an
//! operation costs what it did before.

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::SqliteStore;

/// Most operations sharing one commit.
pub const MAX_BATCH: usize = 128;

/// The batch's commit failed; operations that had succeeded get this.
#[derive(Debug, Clone)]
pub struct CommitFailed(pub String);

trait Job: Send {
    fn run(&mut self, tx: &mut Transaction<'_>);
    fn finish(self: Box<Self>, committed: Result<(), CommitFailed>);
}

struct Pending<T, E, F> {
    op: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Pending<T, E, F>
where
    T: Send,
    E: From<rusqlite::Error> + From<CommitFailed> + Send,
    F: FnOnce(&Connection) -> Result<T, E> + Send,
{
    fn run(&mut self, tx: &mut Transaction<'_>) {
        let Some(op) = self.op.take() else { return };
        let result = match tx.savepoint() {
            Ok(savepoint) => match op(&savepoint) {
                // Dropping an uncommitted savepoint rolls it back.
                Ok(value) => savepoint.commit().map(|()| value).map_err(E::from),
                Err(err) => Err(err),
            },
            Err(err) => Err(E::from(err)),
        };
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, committed: Result<(), CommitFailed>) {
        let outcome = match (self.result, committed) {
            (Some(Err(err)), _) => Err(err),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(failed)) | (None, Err(failed)) => Err(E::from(failed)),
            (None, Ok(())) => Err(E::from(CommitFailed("operation did not run".into()))),
        };
        // The caller may have gone away; its operation is committed anyway.
        let _ = self.reply.send(outcome);
    }
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct GroupWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl GroupWriter {
    /// Starts the writer thread; it ends when the last handle is dropped.
    pub fn start(store: Arc<SqliteStore>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("veil-sqlite-writer".into())
            .spawn(move || run_writer(&store, &queue))?;
        Ok(Self { jobs })
    }

    /// Runs `op` in the next batch; resolves once its batch is committed.
    pub async fn write<T, E, F>(&self, op: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<CommitFailed> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { op: Some(op), result: None, reply });
        self.jobs
            .send(job)
            .map_err(|_| E::from(CommitFailed("the writer thread stopped".into())))?;
        answer
            .await
            .map_err(|_| E::from(CommitFailed("the writer thread dropped the operation".into())))?
    }
}

fn run_writer(store: &SqliteStore, queue: &mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_batch(store, &mut batch);
        if let Err(CommitFailed(reason)) = &committed {
            tracing::error!(operations = batch.len(), reason = %reason, "ledger batch failed to commit");
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

fn commit_batch(store: &SqliteStore, batch: &mut [Box<dyn Job>]) -> Result<(), CommitFailed> {
    let failed = |e: rusqlite::Error| CommitFailed(e.to_string());
    let mut conn = store.conn();
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    for job in batch.iter_mut() {
        job.run(&mut tx);
    }
    tx.commit().map_err(failed)
}
