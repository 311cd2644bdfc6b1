"""Pretrained OCR engines that find and read text lines."""
