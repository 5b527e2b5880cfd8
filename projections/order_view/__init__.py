"""The order view (`order_view`) and the record of processed versions with their VersionTags (`order_version`)."""
