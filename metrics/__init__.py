"""Quality metrics: FID, KID, IS on the canonical Inception graph, SWD, MS-SSIM."""
