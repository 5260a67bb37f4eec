"""The math, written once on the Array API: the backend seam (the only module that names
array libraries), activations, losses, initialisers, the network's forward and backward
propagation, update rules, regularisation, metrics and the gradient check."""
