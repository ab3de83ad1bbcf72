"""DingTalk (钉钉): the robot APIs, Stream mode and HTTP callbacks."""
