import httpx


def test_server_answers_health(prefect_api_url):
    assert httpx.get(prefect_api_url + "/health").json() is True
    from prefect import flow

    @flow
    def f():
        return 3

    assert f() == 3
