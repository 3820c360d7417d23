"""labstack_proxy.app_paths: the environment that opens Dash, Gradio and Bokeh through the proxy."""
from labstack_proxy.app_paths import set_defaults, variables


def test_default_ports_get_their_public_path_under_a_hub_prefix():
    found = variables("/user/alice/")
    assert found["DASH_REQUESTS_PATHNAME_PREFIX"] == "/user/alice/proxy/8050/"
    assert found["GRADIO_ROOT_PATH"] == "/user/alice/proxy/7860"  # Gradio's root has no trailing slash
    assert not any(name.startswith("BOKEH_") for name in found)  # Panel would go to a CDN: web_apps says
    assert found["STREAMLIT_SERVER_ADDRESS"] == "127.0.0.1"
    assert found["DASK_DISTRIBUTED__DASHBOARD__LINK"].format(port=8787) == "/user/alice/proxy/8787/status"


def test_another_port_gets_only_the_path_variables_for_that_port():
    assert variables("/", 8051) == {"DASH_REQUESTS_PATHNAME_PREFIX": "/proxy/8051/",
                                    "GRADIO_ROOT_PATH": "/proxy/8051"}


def test_what_a_person_set_is_kept():
    environ = {"GRADIO_ROOT_PATH": "/mine", "STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}
    set_defaults("/", environ)
    assert environ["GRADIO_ROOT_PATH"] == "/mine" and environ["STREAMLIT_SERVER_ADDRESS"] == "0.0.0.0"
    assert environ["DASH_REQUESTS_PATHNAME_PREFIX"] == "/proxy/8050/"
