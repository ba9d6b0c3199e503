"""Model plugins: networks whose layer activations are compared with neurons."""
