// Package train is the model-agnostic training loop every dmseg experiment uses.
//
// A run is given a loss-graph function (LossFn: context + batch nodes -> scalar
// loss) and a deterministic batch source (Batches: step -> tensors). One compiled
// graph per step computes the loss, its gradients with respect to every
// trainable variable, global-norm gradient clipping, an Adam update with bias
// correction, an exponential moving average (EMA) of the weights and a step
// counter; the learning rate is fed in from the host, so constant, linear-decay
// and reduce-on-plateau schedules share the same graph. A non-finite loss or
// gradient norm leaves every variable untouched inside the graph; the loop then
// stops with ErrNonFinite and the last checkpoint (always a finite one) is kept.
//
// All state lives in context variables (parameters, Adam moments, EMA, step,
// RNG state) plus a small host-side record (schedule state, timings) saved in
// the same checkpoint file. Batches depend only on the step number, so a run
// resumed from a checkpoint continues bit-identically on the same backend.
package train
