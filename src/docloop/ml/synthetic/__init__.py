"""Synthetic training data: new values of a label's text shapes, rendered as line images
(``line_images``) or placed on pages laid out like the label's training pages (``layouts``)."""
