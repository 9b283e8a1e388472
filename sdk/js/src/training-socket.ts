/**
 * `/ws/training/{job_id}` (seed 000; apps/training/consumers.py): `connected`, the
 * job's current `training_status`, then `training_status`, `train_progress`
 * (per epoch), `train_complete` and `train_failed` — kinds under `event`.
 */
import { WebSocketClosedError } from "./errors.js";
import { HeimdallSocket } from "./websocket.js";

export type TrainingFrame = Record<string, unknown> & { event: string; job_id?: string };

export type TrainingEvents = {
  connected: (frame: TrainingFrame) => void;
  training_status: (frame: TrainingFrame) => void;
  train_progress: (frame: TrainingFrame) => void;
  train_complete: (frame: TrainingFrame) => void;
  train_failed: (frame: TrainingFrame) => void;
  pong: (frame: TrainingFrame) => void;
};

const FINISHED = new Set(["completed", "failed", "cancelled"]);

export class TrainingSocket extends HeimdallSocket<TrainingEvents> {
  protected readonly kindKey = "event" as const;
  private settle!: { resolve: (f: TrainingFrame) => void; reject: (e: Error) => void };
  /** Resolves with the final frame when the job completes; rejects when it fails or the socket closes for good. */
  readonly done: Promise<TrainingFrame>;
  /** The latest `training_status` frame. */
  status: TrainingFrame | null = null;

  constructor(...args: ConstructorParameters<typeof HeimdallSocket>) {
    super(...args);
    this.done = new Promise<TrainingFrame>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => {});
  }

  /** Every frame (`connected`, `training_status`, `train_progress`, ...) as an async iterator. */
  events(): AsyncIterableIterator<TrainingFrame> {
    return this.iterate("message", (frame: TrainingFrame) => frame);
  }

  protected resume(): void {
    // The server greets with `connected` and the job's state: ready then.
  }

  protected dispatch(kind: string, frame: Record<string, unknown>): void {
    const typed = frame as TrainingFrame;
    if (kind === "connected") this.markReady();
    if (kind === "training_status") {
      this.status = typed;
      const status = String(typed["status"] ?? "");
      if (status === "completed") this.settle.resolve(typed);
      else if (FINISHED.has(status)) this.settle.reject(Object.assign(new Error(`training ${status}`), { frame: typed }));
    }
    if (kind === "train_complete") this.settle.resolve(typed);
    if (kind === "train_failed") this.settle.reject(Object.assign(new Error(String(typed["error"] ?? "training failed")), { frame: typed }));
    if (kind && kind !== "error") this.emit(kind, typed);
  }

  protected override closed(error: WebSocketClosedError): void {
    this.settle.reject(error);
  }
}
