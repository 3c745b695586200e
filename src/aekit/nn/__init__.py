"""Building blocks: plain ``nn.Module``s that models compose. No losses, no training logic here."""
