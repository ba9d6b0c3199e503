"""Pure solver functions behind the readouts (shapes in each docstring).

Each readout chooses its solver by name from its ``SOLVERS`` dict
(:func:`brainbench.readouts.solvers.common.choose_solver`):

==============  ==================================================================
module          solvers
==============  ==================================================================
``ridge``       dual ridge with closed-form LOO on one shared Gram matrix
                (``simple`` / ``exact-dual``); batched per-target ridge, LOO or
                fixed penalty (the factored half steps)
``generalized`` L2 + Laplacian ridge in dual form (``spatial`` / ``exact``)
``als``         alternating half steps for mask x features (``factored`` / ``als``)
``adam``        full-batch Adam and its one grid-search loop (``simple-sgd``,
                ``spatial`` / ``adam``, ``factored`` / ``adam``)
``common``      alpha grids, penalty grids, R^2, the inner validation split
``laplacian``   the eq. 5 penalty and its eigenbasis; ``scaling``: standardisation
==============  ==================================================================

Nothing here imports a readout class.
"""
