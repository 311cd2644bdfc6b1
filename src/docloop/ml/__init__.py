"""Machine learning: document decoding, OCR engines, the field model, training and serving."""
