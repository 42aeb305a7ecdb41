import json

from click.testing import CliRunner

from compactrs.cli import cli


def test_models_lists_costs_for_input():
    result = CliRunner().invoke(cli, ["models", "--bands", "10", "--size", "32", "--classes", "17", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.output)["models"]}
    # the LCZ paper's ResNet08 on So2Sat (10 bands, 32², 17 classes): 13.53 M; the head adds 64·17 MACs
    assert rows["resnet8"]["macs"] == 13_533_184 + 64 * 17
    assert rows["resnet110"]["macs"] > rows["resnet32"]["macs"] > rows["resnet8"]["macs"]
    assert rows["cellnet"]["macs"] is None


def test_models_human_table_and_pattern():
    result = CliRunner().invoke(cli, ["models", "--pattern", "vgg*"])
    assert result.exit_code == 0
    assert "vgg16_bn" in result.output and "resnet8" not in result.output
