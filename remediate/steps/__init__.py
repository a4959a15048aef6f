"""Step kinds: one module each, planning and applying through the AWS gateways."""
