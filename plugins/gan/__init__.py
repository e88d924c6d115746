"""GAN family (in progress): the objectives are done and tested; the family, the 2-D lab and shipped
weights are the open part of the GAN issue. This package registers nothing yet."""
