"""A generated benchmark: simulated V1 complex cells viewing generated images.

Everything is made on the fly from a seed, so the benchmark needs no download and runs
offline. It is a *simulation*, useful to check the pipeline end to end (and as a
template for a real assembly plugin), not a claim about the brain.

Images: ``n_stimuli`` grayscale 64 x 64 images, each a sum of three random oriented
sinusoidal gratings under Gaussian windows plus pixel noise, stored as uint8 RGB.

Neurons: energy-model complex cells (Adelson & Bergen 1985): a quadrature pair of Gabor
filters at a random position, orientation, and spatial frequency; rate
``= baseline + gain * (even^2 + odd^2)`` in spikes per presentation; each of the
``n_repetitions`` trials is a Poisson draw of that rate.

Adelson, E. H., & Bergen, J. R. (1985). Spatiotemporal energy models for the perception
of motion. Journal of the Optical Society of America A, 2(2), 284-299.
"""

from __future__ import annotations

import numpy as np

from brainbench.assemblies import AssemblySource, LoadedAssembly
from brainbench.data import StimulusSet, make_assembly

SIZE = 64


def _grid() -> tuple[np.ndarray, np.ndarray]:
    axis = np.arange(SIZE) - (SIZE - 1) / 2
    return np.meshgrid(axis, axis, indexing="xy")


def generate_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 64, 64)`` float images in [0, 1]."""
    x, y = _grid()
    images = np.zeros((n, SIZE, SIZE))
    for k in range(n):
        canvas = np.zeros((SIZE, SIZE))
        for _ in range(3):
            theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(0.04, 0.2), rng.uniform(0, 2 * np.pi)
            cx, cy, sigma = rng.uniform(-20, 20), rng.uniform(-20, 20), rng.uniform(6, 18)
            u = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta)
            window = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
            canvas += rng.uniform(0.3, 1.0) * window * np.sin(2 * np.pi * freq * u + phase)
        canvas += 0.05 * rng.normal(size=canvas.shape)
        images[k] = np.clip(0.5 + 0.4 * canvas, 0.0, 1.0)
    return images


def gabor_pairs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Even and odd filters ``(n, 64 * 64)`` and their parameters."""
    x, y = _grid()
    params = {
        "x": rng.uniform(-16, 16, n),
        "y": rng.uniform(-16, 16, n),
        "orientation": rng.uniform(0, np.pi, n),
        "frequency": rng.uniform(0.05, 0.18, n),
    }
    even, odd = np.zeros((n, SIZE * SIZE)), np.zeros((n, SIZE * SIZE))
    for k in range(n):
        sigma = 0.5 / params["frequency"][k]
        dx, dy = x - params["x"][k], y - params["y"][k]
        u = dx * np.cos(params["orientation"][k]) + dy * np.sin(params["orientation"][k])
        window = np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
        even[k] = (window * np.cos(2 * np.pi * params["frequency"][k] * u)).ravel()
        odd[k] = (window * np.sin(2 * np.pi * params["frequency"][k] * u)).ravel()
    norm = np.sqrt((even**2).sum(1, keepdims=True))
    return even / norm, odd / norm, params


class SimulatedV1(AssemblySource):
    """Trial assembly ``(repetition, stimulus, neuroid)`` of simulated complex cells."""

    def __init__(
        self,
        n_stimuli: int = 300,
        n_neuroids: int = 40,
        n_repetitions: int = 8,
        seed: int = 0,
        gain: float = 4.0,
        baseline: float = 1.0,
    ) -> None:
        self.identifier = f"example-gabor-sim-{seed}"
        self.n_stimuli, self.n_neuroids, self.n_repetitions = n_stimuli, n_neuroids, n_repetitions
        self.seed, self.gain, self.baseline = seed, gain, baseline

    def load(self, progress: bool = True) -> LoadedAssembly:
        rng = np.random.default_rng(self.seed)
        images = generate_images(self.n_stimuli, rng)
        even, odd, params = gabor_pairs(self.n_neuroids, rng)
        pixels = (images - 0.5).reshape(self.n_stimuli, -1)
        energy = (pixels @ even.T) ** 2 + (pixels @ odd.T) ** 2  # (stimulus, neuroid)
        rate = self.baseline + self.gain * energy / energy.mean(0, keepdims=True)
        trials = rng.poisson(rate[None], size=(self.n_repetitions, *rate.shape)).astype(np.float64)
        ids = [f"sim{k:04d}" for k in range(self.n_stimuli)]
        assembly = make_assembly(
            trials,
            stimulus_ids=ids,
            neuroid_ids=[f"cell{k:03d}" for k in range(self.n_neuroids)],
            identifier=self.identifier,
            species="simulated",
            units="spike count per presentation",
            citation="Simulated energy-model complex cells (Adelson & Bergen 1985); brainbench-example.",
            neuroid_coords={
                "region": np.full(self.n_neuroids, "V1-sim", dtype=object),
                **{f"rf_{k}": v for k, v in params.items()},
            },
        )
        rgb = (np.repeat(images[..., None], 3, axis=-1) * 255).round().astype(np.uint8)
        return LoadedAssembly(assembly, StimulusSet.from_arrays(list(rgb), ids=ids, identifier=self.identifier))


def simulated_v1(**params) -> SimulatedV1:
    """Assembly plugin factory (named in the manifest)."""
    return SimulatedV1(**params)
