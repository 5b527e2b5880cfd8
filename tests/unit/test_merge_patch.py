from orderledger.domain.merge_patch import merge_patch


def test_patch_sets_replaces_and_removes_fields():
    target = {"state": "draft", "erp_order_number": "E1", "delivery": {"method": "Post", "trackingNumber": "T"}}
    patch = {"state": "processing", "erp_order_number": None, "delivery": {"trackingNumber": "T2"}}
    assert merge_patch(target, patch) == {"state": "processing", "delivery": {"method": "Post", "trackingNumber": "T2"}}
    assert target["state"] == "draft"  # the original is untouched


def test_arrays_are_replaced_whole():
    assert merge_patch({"items": [{"sku": "A"}, {"sku": "B"}]}, {"items": [{"sku": "C"}]}) == {"items": [{"sku": "C"}]}


def test_a_non_object_patch_replaces_the_target():
    assert merge_patch({"a": 1}, ["x"]) == ["x"]
