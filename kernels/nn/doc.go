// Package nn holds the layer building blocks every dmseg model uses: a 2-D
// convolution that trains on every backend (XLA and pure Go), average pooling,
// nearest upsampling, dense layers and group normalisation.
//
// Importing nn also installs a faster gradient for graph.DotGeneral (see
// dotgrad.go): GoMLX v0.26 writes that gradient as broadcast-multiply plus
// reduce-sum, which materialises an M*K*N tensor; ours is two DotGenerals.
//
// Initialisation follows PyTorch's defaults (the reference implementations are
// PyTorch): weights and biases of conv and linear layers ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
package nn
