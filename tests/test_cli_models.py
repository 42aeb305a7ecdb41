import json

from click.testing import CliRunner

from compactrs.cli import cli


def test_models_lists_costs_for_input():
    result = CliRunner().invoke(cli, ["models", "--bands", "10", "--size", "32", "--classes", "17", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.output)["models"]}
    assert rows["resnet8"]["macs"] == 13_533_824  # the LCZ paper's ResNet08: 13.53 M
    assert rows["resnet110"]["macs"] > rows["resnet32"]["macs"] > rows["resnet8"]["macs"]
    assert rows["cellnet"]["macs"] is None


def test_models_human_table_and_pattern():
    result = CliRunner().invoke(cli, ["models", "--pattern", "vgg*"])
    assert result.exit_code == 0
    assert "vgg16_bn" in result.output and "resnet8" not in result.output
