//! The training loop of the training examples (`train_digits`, `train_sums`),
//! with what users expect of one: command-line flags, a progress bar (step,
//! loss, accuracy, speed), per-epoch metrics, checkpoints every N steps that
//! `--resume` continues bit for bit (model, optimizer, metrics and the random
//! streams the model holds), a loss-curve picture against Flax's run next to
//! the checkpoint, and a summary at the end.
//!
//! A step is Flax's usual `train_step`: `nnx::value_and_grad` of the example's
//! loss function (with logits and labels as auxiliary output), then
//! `optimizer.update(model, grads)` and `metrics.update(loss, logits, labels)`.
//! Everything else random (batch order, generated data) must be a function of
//! the step, so that a resumed run sees the same batches.

// Each includer uses only part of it.
#![allow(dead_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayD;
use nnx::metrics::{Accuracy, Average, Batch, MetricState, MultiMetric};
use nnx::optax::{GradientTransformation, Schedule};
use nnx::prelude::*;
use nnx::tensor::{value_and_grad_with_aux, Tensor};
use nnx::Optimizer;
use serde_json::{json, Value};

#[path = "plot.rs"]
mod plot;

/// The result type of the examples: any error, printed by `main`.
pub type Fallible<T> = Result<T, Box<dyn Error>>;

/// The flags every training example takes (flattened into its own).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Directory for the checkpoint, the run record (run.json) and the loss
    /// curve (loss.svg); a new run overwrites them
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Save a checkpoint every N steps (and always at the end; 0: only at the end)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub every: usize,
    /// Continue the run saved in the checkpoint directory, bit for bit as if it
    /// had never stopped (the other flags must be the ones it was started with)
    #[arg(long)]
    pub resume: bool,
    /// Stop (with a checkpoint) once this many steps are done; --resume continues
    #[arg(long, value_name = "STEP")]
    pub stop_after: Option<usize>,
    /// Print only the summary: no progress bar, no per-epoch lines
    #[arg(long)]
    pub quiet: bool,
}

/// What a run is: its length, its hyperparameters (recorded, and checked on
/// `--resume`), its learning-rate schedule, and Flax's losses to compare with.
pub struct Plan {
    /// A name for the run record (`"digits"`).
    pub name: &'static str,
    pub total_steps: usize,
    /// Steps between two evaluations and metric resets.
    pub steps_per_epoch: usize,
    /// Every setting that changes the numbers.
    pub config: Value,
    /// The learning rate at each step, for the record.
    pub schedule: Schedule,
    /// Flax's loss at each step of the same run, if there is one.
    pub reference: Option<Vec<f32>>,
}

/// The auxiliary output of a loss function: what the metrics need.
pub struct StepAux {
    pub logits: ArrayD<f32>,
    pub labels: ArrayD<i64>,
}

/// One step of the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    pub loss: f32,
    pub accuracy: f32,
    pub learning_rate: f32,
}

/// One epoch of the record: the training metrics over the epoch and the
/// evaluation after it (named values, e.g. `test_accuracy`).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub eval: Vec<(String, f32)>,
}

/// A model, its optimizer and metrics, and the record of the run so far.
pub struct Trainer<M> {
    pub model: M,
    pub optimizer: Optimizer<nnx::Kind>,
    metrics: MultiMetric,
    plan: Plan,
    args: RunArgs,
    dir: PathBuf,
    pub steps: Vec<StepRecord>,
    pub epochs: Vec<EpochRecord>,
    /// Training time of the previous sessions of this run (seconds).
    earlier_secs: f64,
    session: Option<Session>,
}

/// The timing of this process's part of the run.
struct Session {
    start: Instant,
    first_step: usize,
}

/// How a run ended.
pub enum Outcome {
    Finished,
    /// `--stop-after` reached; the checkpoint holds everything to resume.
    Stopped,
}

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const METRICS_FILE: &str = "metrics.safetensors";
const RECORD_FILE: &str = "run.json";
const PLOT_FILE: &str = "loss.svg";

fn new_metrics() -> MultiMetric {
    MultiMetric::new([
        ("accuracy", Accuracy::new().into()),
        ("loss", Average::new("loss").into()),
    ])
}

impl<M: Module> Trainer<M> {
    /// A new run, or with `--resume` the run saved in the checkpoint directory
    /// (default `default_dir`), restored into `model` and a fresh optimizer.
    pub fn new(
        mut model: M,
        tx: impl GradientTransformation + 'static,
        plan: Plan,
        args: RunArgs,
        default_dir: &str,
    ) -> Fallible<Trainer<M>> {
        let dir = args
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(default_dir));
        let mut optimizer = Optimizer::new(&model, tx, Param)?;
        let mut metrics = new_metrics();
        let (mut steps, mut epochs, mut earlier_secs) = (Vec::new(), Vec::new(), 0.0);
        if args.resume {
            let record = read_record(&dir.join(RECORD_FILE))?;
            check_same_run(&record, &plan)?;
            nnx::checkpoint::load_into(&mut model, dir.join(MODEL_FILE))?;
            let state =
                nnx::checkpoint::load_state_with(dir.join(OPTIMIZER_FILE), &nnx::resolve_opt_kind)?;
            optimizer.load_state(&state)?;
            let state = nnx::checkpoint::load_state_with(dir.join(METRICS_FILE), &|name| {
                if name == "MetricState" {
                    Some(MetricState)
                } else {
                    nnx::checkpoint::builtin_kind(name)
                }
            })?;
            Module::update(&mut metrics, state)?;
            steps = parse_steps(&record)?;
            epochs = parse_epochs(&record)?;
            earlier_secs = record["elapsed_secs"].as_f64().unwrap_or(0.0);
            if optimizer.step() as usize != steps.len() {
                return Err(format!(
                    "{}: the optimizer is at step {} but run.json records {} steps \
                     (files from different checkpoints)",
                    dir.display(),
                    optimizer.step(),
                    steps.len()
                )
                .into());
            }
        }
        Ok(Trainer {
            model,
            optimizer,
            metrics,
            plan,
            args,
            dir,
            steps,
            epochs,
            earlier_secs,
            session: None,
        })
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the loss curve is written.
    pub fn plot_path(&self) -> PathBuf {
        self.dir.join(PLOT_FILE)
    }

    /// Trains until the plan's last step (or `--stop-after`): `loss_fn(model,
    /// step)` gives the step's loss and the metrics' inputs; `evaluate(model)`,
    /// called in eval mode after every epoch, gives named results.
    pub fn run<L, E>(&mut self, mut loss_fn: L, mut evaluate: E) -> Fallible<Outcome>
    where
        L: FnMut(&mut M, usize) -> nnx::Result<(Tensor, StepAux)>,
        E: FnMut(&mut M) -> nnx::Result<Vec<(String, f32)>>,
    {
        std::fs::create_dir_all(&self.dir)?;
        let first = self.steps.len();
        self.session = Some(Session {
            start: Instant::now(),
            first_step: first,
        });
        let bar = progress_bar(self.args.quiet, self.plan.total_steps, first);
        self.model.train()?;
        for step in first..self.plan.total_steps {
            let ((loss, aux), grads) =
                value_and_grad_with_aux(&mut self.model, Param, |m| loss_fn(m, step))?;
            self.optimizer.update(&mut self.model, &grads)?;
            let batch = Batch::new()
                .scalar("loss", loss)
                .logits(aux.logits)
                .labels(aux.labels);
            let mut accuracy = Accuracy::new();
            accuracy.update(&batch)?;
            self.metrics.update(&batch)?;
            self.steps.push(StepRecord {
                loss,
                accuracy: accuracy.compute().scalar().unwrap_or(f32::NAN),
                learning_rate: self.plan.schedule.at(step as i64)?,
            });
            let done = step + 1;
            let last = self.steps[step];
            bar.set_message(format!(
                "epoch {}/{}  loss {:.4}  acc {:.3}  {:.1} steps/s",
                self.epoch_of(step),
                self.plan_epochs(),
                last.loss,
                last.accuracy,
                self.rate()
            ));
            bar.set_position(done as u64);
            if done % self.plan.steps_per_epoch == 0 || done == self.plan.total_steps {
                self.end_epoch(&mut evaluate, &bar)?;
            }
            let stop = self.args.stop_after == Some(done);
            let due = self.args.every > 0 && done % self.args.every == 0;
            if due || stop || done == self.plan.total_steps {
                self.save()?;
            }
            if stop && done < self.plan.total_steps {
                bar.finish_and_clear();
                return Ok(Outcome::Stopped);
            }
        }
        bar.finish_and_clear();
        if self.steps.len() == first {
            // Nothing left to do (a resumed finished run): still write the picture.
            self.save()?;
        }
        Ok(Outcome::Finished)
    }

    fn epoch_of(&self, step: usize) -> usize {
        step / self.plan.steps_per_epoch + 1
    }

    fn plan_epochs(&self) -> usize {
        self.plan.total_steps.div_ceil(self.plan.steps_per_epoch)
    }

    fn end_epoch<E>(&mut self, evaluate: &mut E, bar: &ProgressBar) -> Fallible<()>
    where
        E: FnMut(&mut M) -> nnx::Result<Vec<(String, f32)>>,
    {
        let train = self.metrics.compute();
        let scalar = |name: &str| train.get(name).and_then(|v| v.scalar()).unwrap_or(f32::NAN);
        self.model.eval()?;
        let eval = evaluate(&mut self.model);
        self.model.train()?;
        let mut eval = eval?;
        // Sorted by name, as run.json stores them.
        eval.sort_by(|a, b| a.0.cmp(&b.0));
        let record = EpochRecord {
            epoch: self.epochs.len() + 1,
            train_loss: scalar("loss"),
            train_accuracy: scalar("accuracy"),
            eval,
        };
        self.metrics.reset();
        if !self.args.quiet {
            let line = self.epoch_line(&record);
            bar.suspend(|| println!("{line}"));
        }
        self.epochs.push(record);
        Ok(())
    }

    fn epoch_line(&self, e: &EpochRecord) -> String {
        let mut line = format!(
            "epoch {:>2}/{}  loss {:.4}  accuracy {:.4}",
            e.epoch,
            self.plan_epochs(),
            e.train_loss,
            e.train_accuracy
        );
        for (name, value) in &e.eval {
            line += &format!("  {name} {value:.4}");
        }
        if let Some(flax) = &self.plan.reference {
            let a = LossAgreement::new(&self.steps, flax);
            line += &format!("  | max rel. diff from Flax {:.1e}", a.max_rel);
        }
        line
    }

    /// Steps per second in this session.
    fn rate(&self) -> f64 {
        match &self.session {
            Some(s) => {
                let secs = s.start.elapsed().as_secs_f64();
                (self.steps.len() - s.first_step) as f64 / secs.max(1e-9)
            }
            None => 0.0,
        }
    }

    /// Training time of the whole run so far (all sessions), in seconds.
    pub fn elapsed_secs(&self) -> f64 {
        self.earlier_secs
            + self
                .session
                .as_ref()
                .map_or(0.0, |s| s.start.elapsed().as_secs_f64())
    }

    /// Writes the checkpoint (model, optimizer, metrics), then the run record
    /// and the loss curve. Each file is written whole under a temporary name
    /// and renamed, the record last, so an interrupted save leaves the previous
    /// checkpoint readable or fails `--resume` loudly.
    pub fn save(&self) -> Fallible<()> {
        let tmp = |name: &str| self.dir.join(format!("{name}.tmp"));
        nnx::checkpoint::save(&self.model, tmp(MODEL_FILE))?;
        nnx::checkpoint::save_state(&self.optimizer.state(), tmp(OPTIMIZER_FILE))?;
        nnx::checkpoint::save_state(&self.metrics.state(), tmp(METRICS_FILE))?;
        let record = json!({
            "name": self.plan.name,
            "config": self.plan.config,
            "elapsed_secs": self.elapsed_secs(),
            "steps": self.steps.iter().map(|s| json!({
                "loss": s.loss, "accuracy": s.accuracy, "learning_rate": s.learning_rate,
            })).collect::<Vec<_>>(),
            "epochs": self.epochs.iter().map(|e| json!({
                "epoch": e.epoch,
                "train_loss": e.train_loss,
                "train_accuracy": e.train_accuracy,
                "eval": e.eval.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(tmp(RECORD_FILE), serde_json::to_string(&record)? + "\n")?;
        for name in [MODEL_FILE, OPTIMIZER_FILE, METRICS_FILE, RECORD_FILE] {
            std::fs::rename(tmp(name), self.dir.join(name))?;
        }
        self.write_plot()?;
        Ok(())
    }

    fn write_plot(&self) -> std::io::Result<()> {
        let ours: Vec<f32> = self.steps.iter().map(|s| s.loss).collect();
        let ours = plot::Series {
            name: "nnx (Rust)",
            colour: "#d62728",
            width: 1.0,
            values: &ours,
        };
        let flax = self.plan.reference.as_deref().map(|values| plot::Series {
            name: "Flax",
            colour: "#1f77b4",
            width: 4.0,
            values,
        });
        let title = format!("{}: training loss per step", self.plan.name);
        plot::loss_curves(&self.plot_path(), &title, &ours, flax.as_ref())
    }

    /// The summary of the run: steps, time, speed, the last epoch's metrics,
    /// and where the files are.
    pub fn summary(&self) -> String {
        let total = self.elapsed_secs();
        let mut out = format!(
            "trained {} steps ({} epochs) in {:.2} s: {:.1} steps/s",
            self.steps.len(),
            self.epochs.len(),
            total,
            self.steps.len() as f64 / total.max(1e-9)
        );
        if let Some(s) = &self.session {
            if s.first_step > 0 {
                out += &format!(
                    " (resumed at step {}; this session {:.1} steps/s)",
                    s.first_step,
                    self.rate()
                );
            }
        }
        if let Some(e) = self.epochs.last() {
            out += &format!("\nlast epoch:   {}", self.epoch_line(e));
        }
        out += &format!(
            "\ncheckpoint:   {} ({MODEL_FILE}, {OPTIMIZER_FILE}, {METRICS_FILE}, {RECORD_FILE})",
            self.dir.display()
        );
        out += &format!("\nloss curve:   {}", self.plot_path().display());
        out
    }
}

/// How closely a run's per-step losses follow a reference run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossAgreement {
    /// Steps compared (the shorter of the two runs).
    pub steps: usize,
    /// Largest `|ours - flax| / |flax|`.
    pub max_rel: f32,
    /// The step where it occurs.
    pub worst_step: usize,
    /// The first step beyond 1e-4 relative, if any.
    pub first_beyond_1e4: Option<usize>,
}

impl LossAgreement {
    pub fn new(ours: &[StepRecord], flax: &[f32]) -> LossAgreement {
        let mut a = LossAgreement {
            steps: ours.len().min(flax.len()),
            max_rel: 0.0,
            worst_step: 0,
            first_beyond_1e4: None,
        };
        for (i, (s, &f)) in ours.iter().zip(flax).enumerate() {
            // A NaN difference counts as infinitely far.
            let rel = match (s.loss - f).abs() / f.abs() {
                r if r.is_nan() => f32::INFINITY,
                r => r,
            };
            if rel > a.max_rel {
                a.max_rel = rel;
                a.worst_step = i;
            }
            if rel > 1e-4 && a.first_beyond_1e4.is_none() {
                a.first_beyond_1e4 = Some(i);
            }
        }
        a
    }
}

/// indicatif's bar on stderr (drawn only when stderr is a terminal, as
/// indicatif does; hidden with `--quiet`), starting at the steps already done.
fn progress_bar(quiet: bool, total: usize, done: usize) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    if let Ok(style) = ProgressStyle::with_template("[{bar:24}] {pos}/{len} {msg}  ETA {eta}") {
        bar.set_style(style.progress_chars("#-"));
    }
    bar.set_position(done as u64);
    bar
}

fn read_record(path: &Path) -> Fallible<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--resume: cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

fn check_same_run(record: &Value, plan: &Plan) -> Fallible<()> {
    if record["name"] != json!(plan.name) || record["config"] != plan.config {
        return Err(format!(
            "--resume: the checkpoint is of another run\n  saved: {} {}\n  now:   {} {}\n\
             resume with the flags the run was started with, or start a new run without --resume",
            record["name"], record["config"], plan.name, plan.config
        )
        .into());
    }
    Ok(())
}

fn field(v: &Value, name: &str) -> Fallible<f32> {
    v[name]
        .as_f64()
        .map(|x| x as f32)
        .ok_or_else(|| format!("run.json: no number '{name}' in {v}").into())
}

fn parse_steps(record: &Value) -> Fallible<Vec<StepRecord>> {
    let steps = record["steps"]
        .as_array()
        .ok_or("run.json: no 'steps' list")?;
    steps
        .iter()
        .map(|s| {
            Ok(StepRecord {
                loss: field(s, "loss")?,
                accuracy: field(s, "accuracy")?,
                learning_rate: field(s, "learning_rate")?,
            })
        })
        .collect()
}

fn parse_epochs(record: &Value) -> Fallible<Vec<EpochRecord>> {
    let epochs = record["epochs"]
        .as_array()
        .ok_or("run.json: no 'epochs' list")?;
    epochs
        .iter()
        .map(|e| {
            let eval = e["eval"]
                .as_object()
                .ok_or("run.json: an epoch without 'eval'")?;
            Ok(EpochRecord {
                epoch: field(e, "epoch")? as usize,
                train_loss: field(e, "train_loss")?,
                train_accuracy: field(e, "train_accuracy")?,
                eval: eval
                    .iter()
                    .map(|(k, _)| Ok((k.clone(), field(&e["eval"], k)?)))
                    .collect::<Fallible<_>>()?,
            })
        })
        .collect()
}
