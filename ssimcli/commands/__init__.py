"""One module per ``ssim-l1`` subcommand, each loaded only when it is run."""
