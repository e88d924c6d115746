"""Built-in datasets, registered through the same hook a third-party plugin uses."""

from functools import partial

import playground as pg
from playground.data import builtin, external, toys


@pg.hookimpl
def register_datasets(register):
    register(pg.DatasetInfo("digits", "Handwritten digits (scikit-learn, 1,797 real)", builtin.load_digits,
                            channels=1, num_classes=10,
                            description="Real 8×8 handwritten digits bundled with scikit-learn, upsampled."))
    register(pg.DatasetInfo("glyphs", "Printed digits (rendered)", builtin.load_glyphs, channels=1,
                            num_classes=10,
                            description="Digits drawn from Pillow's bundled font with affine jitter."))
    register(pg.DatasetInfo("shapes", "Shapes (dSprites-style)", builtin.load_shapes, channels=1,
                            num_classes=3,
                            description="Square/ellipse/heart × scale × rotation × position."))
    for key, (cls_name, channels, names) in external.TORCHVISION_SETS.items():
        register(pg.DatasetInfo(key, f"{cls_name} (torchvision)", partial(external.load_torchvision, key),
                                channels=channels, num_classes=len(names), source="download",
                                description=f"{cls_name}; downloaded once into the data folder when online."))
    for name, fn, title in (("ring8", toys.load_ring, "Ring of 8 Gaussians"),
                            ("grid25", toys.load_grid, "5×5 grid of Gaussians"),
                            ("moons", toys.load_moons, "Two moons"),
                            ("spiral", toys.load_spiral, "Spiral")):
        register(pg.DatasetInfo(name, title, fn, kind="points", channels=0))
