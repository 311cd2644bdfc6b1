"""What a LabelFile page carries by default: the model's fields, not its doubted alternatives."""

from __future__ import annotations

from docloop.api.compat.schemas import label_page

PAGE = {
    "message": "Success",
    "input": "a.jpg",
    "prediction": [
        {"ocr_text": "HR26DA2330", "alternative": False, "status": "correctly_predicted"},
        {"ocr_text": "LENSKINA", "alternative": True, "status": "correctly_predicted"},
        {"ocr_text": "KA01AB1234", "alternative": True, "status": "corrected"},
    ],
}


def test_alternatives_are_left_out_by_default() -> None:
    page = label_page(PAGE, include_alternatives=False)
    assert [p["ocr_text"] for p in page["prediction"]] == ["HR26DA2330", "KA01AB1234"]
    assert page["processing_type"] == "" and page["input"] == "a.jpg"


def test_alternatives_on_request() -> None:
    page = label_page(PAGE, include_alternatives=True)
    assert len(page["prediction"]) == 3
