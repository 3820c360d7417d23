# Example app served at /shiny/: a slider whose value the server echoes back over Shiny's websocket.
library(shiny)

ui <- fluidPage(
  titlePanel("labstack Shiny example"),
  sliderInput("n", "Number of points", min = 10, max = 500, value = 100),
  plotOutput("scatter"),
  textOutput("summary")
)

server <- function(input, output) {
  points <- reactive({
    set.seed(42)
    data.frame(x = rnorm(input$n), y = rnorm(input$n))
  })
  output$scatter <- renderPlot(plot(points(), pch = 19, col = "steelblue"))
  output$summary <- renderText(sprintf("labstack-shiny-ok: %d points", nrow(points())))
}

shinyApp(ui, server)
