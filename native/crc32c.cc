// PLACEHOLDER until its owner writes it.
