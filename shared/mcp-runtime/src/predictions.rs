//! The prediction log writer: every score a tool gives is logged with its model and inputs
//! (`store::predictions`), without making the caller wait for the disk. Scores are logged
//! by a background task in batches, like successful reads in the audit log, and
//! [`PredictionLog::shutdown`] writes whatever is queued before the server exits.

use store::predictions::NewPrediction;
use tokio::sync::mpsc;

/// How many predictions may wait for the writer before callers wait for it.
const QUEUE: usize = 8192;
/// The most predictions one transaction holds.
const BATCH: usize = 1000;

/// Queues predictions for the background writer.
#[derive(Debug)]
pub struct PredictionLog {
    queue: std::sync::Mutex<Option<mpsc::Sender<NewPrediction>>>,
    writer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PredictionLog {
    /// Starts the writer on `store`.
    pub fn start(store: store::Store) -> PredictionLog {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_batches(store, receiver));
        PredictionLog {
            queue: std::sync::Mutex::new(Some(sender)),
            writer: tokio::sync::Mutex::new(Some(writer)),
        }
    }

    /// Queues predictions; waits only when the queue is full.
    pub async fn log(&self, predictions: Vec<NewPrediction>) {
        let sender = match self.queue.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(sender) = sender else {
            tracing::warn!(
                count = predictions.len(),
                "the prediction log is closed; predictions not logged"
            );
            return;
        };
        for prediction in predictions {
            if sender.send(prediction).await.is_err() {
                tracing::error!("the prediction log writer stopped; a prediction was not logged");
                return;
            }
        }
    }

    /// Writes everything queued and stops the writer.
    pub async fn shutdown(&self) {
        match self.queue.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(writer) = self.writer.lock().await.take()
            && let Err(error) = writer.await
        {
            tracing::error!(%error, "the prediction log writer failed");
        }
    }
}

/// How long the writer lingers after the first queued prediction to gather more into the
/// same transaction: scores are not audit entries, and one transaction per score would put a
/// disk write on another thread behind every call.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

async fn write_batches(store: store::Store, mut queue: mpsc::Receiver<NewPrediction>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            // Gather what arrives meanwhile; a closed queue ends the wait at once.
            let _ = tokio::time::timeout(LINGER, async {
                while batch.len() < BATCH {
                    let room = BATCH - batch.len();
                    if queue.recv_many(&mut batch, room).await == 0 {
                        break;
                    }
                }
            })
            .await;
        }
        if let Err(error) = store::predictions::insert_many(&store, &batch).await {
            tracing::error!(%error, count = batch.len(), "could not log predictions");
        }
        batch.clear();
    }
}
